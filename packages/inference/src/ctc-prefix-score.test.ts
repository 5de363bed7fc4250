import type { LogProbs } from './ctc';
import { CtcPrefixScorer } from './ctc-prefix-score';
import { labellingProbs, randomProbs } from './log-probs.testing';

const startsWith = (labels: number[], prefix: number[]) => prefix.every((l, i) => labels[i] === l);
const same = (a: number[], b: number[]) => a.length === b.length && startsWith(a, b);

/** ψ by brute force: the probability of every labelling that starts with `prefix`. */
const bruteForcePrefix = (m: LogProbs, blank: number, prefix: number[]) =>
  Math.log(labellingProbs(m, blank).filter((x) => startsWith(x.labels, prefix)).reduce((s, x) => s + x.p, 0));
const bruteForceWhole = (m: LogProbs, blank: number, labels: number[]) =>
  Math.log(labellingProbs(m, blank).filter((x) => same(x.labels, labels)).reduce((s, x) => s + x.p, 0));

describe('CtcPrefixScorer', () => {
  const BLANK = 0;
  const EOS = 3;
  const m = randomProbs(5, 4, 7); // 4^5 = 1,024 paths

  /** Walks `prefix` through the scorer one label at a time, as the beam search does. */
  function walk(scorer: CtcPrefixScorer, prefix: number[]) {
    let state = scorer.initial();
    for (let i = 0; i < prefix.length; i++) {
      const [score] = scorer.score(prefix.slice(0, i), state, [prefix[i]]);
      state = scorer.extend(prefix.slice(0, i), state, prefix[i], score);
    }
    return state;
  }

  it.each([[[1]], [[2]], [[1, 2]], [[1, 1]], [[2, 1, 2]], [[1, 1, 1]], [[2, 2, 1, 1]]])(
    'gives the brute-force prefix probability of %j, repeated labels included',
    (prefix) => {
      const scorer = new CtcPrefixScorer(m, BLANK, EOS);
      const parent = walk(scorer, prefix.slice(0, -1));
      const [score] = scorer.score(prefix.slice(0, -1), parent, [prefix[prefix.length - 1]]);
      expect(score).toBeCloseTo(bruteForcePrefix(m, BLANK, prefix), 5);
      expect(walk(scorer, prefix).score).toBeCloseTo(score, 10);
    },
  );

  it('scores eos as the whole labelling being the prefix, and the blank as impossible', () => {
    const scorer = new CtcPrefixScorer(m, BLANK, EOS);
    for (const prefix of [[], [1], [2, 1], [1, 1]]) {
      const [eos, blank] = scorer.score(prefix, walk(scorer, prefix), [EOS, BLANK]);
      expect(eos).toBeCloseTo(bruteForceWhole(m, BLANK, prefix), 5);
      expect(blank).toBe(-Infinity);
    }
  });

  it('never lets a longer prefix score above its parent (scores only fall as a hypothesis grows)', () => {
    const scorer = new CtcPrefixScorer(randomProbs(12, 6, 3), BLANK, 5);
    let prefix: number[] = [];
    let state = scorer.initial();
    for (const label of [1, 2, 2, 3, 1, 4]) {
      const [score, eos] = scorer.score(prefix, state, [label, 5]);
      expect(score).toBeLessThanOrEqual(state.score + 1e-9);
      expect(eos).toBeLessThanOrEqual(state.score + 1e-9);
      state = scorer.extend(prefix, state, label, score);
      prefix = [...prefix, label];
    }
  });

  it('scores long utterances over a window of frames without changing the scores', () => {
    // 400 frames, one confident label every 8 frames: a prefix is likely only near where it ends
    const steps = 400;
    const vocab = 12;
    const data = new Float32Array(steps * vocab);
    const spoken: number[] = [];
    for (let t = 0; t < steps; t++) {
      const label = t % 8 === 4 ? 1 + ((t * 7) % (vocab - 2)) : BLANK;
      if (label !== BLANK) spoken.push(label);
      for (let v = 0; v < vocab; v++) data[t * vocab + v] = Math.log(v === label ? 0.9 : 0.1 / (vocab - 1));
    }
    const long = { data, steps, vocab };
    const scorer = new CtcPrefixScorer(long, BLANK, vocab - 1);
    const candidates = Array.from({ length: vocab - 2 }, (_, i) => i + 1);
    let state = scorer.initial();
    const prefix: number[] = [];
    for (const label of spoken.slice(0, 30)) {
      const scores = scorer.score(prefix, state, candidates);
      candidates.forEach((c, i) => expect(scores[i]).toBeCloseTo(fullPass(long, prefix, state.r, c), 6));
      state = scorer.extend(prefix, state, label, scores[candidates.indexOf(label)]);
      prefix.push(label);
    }
  });

  it('gives -Infinity to a prefix longer than the frames can hold', () => {
    const short = randomProbs(2, 4, 1);
    const scorer = new CtcPrefixScorer(short, BLANK, EOS);
    const state = walk(scorer, [1, 2]);
    expect(scorer.score([1, 2], state, [1])[0]).toBe(-Infinity);
    // a repeat needs a blank between: [1, 1] does not fit in two frames
    const one = walk(scorer, [1]);
    expect(scorer.score([1], one, [1])[0]).toBe(-Infinity);
  });
});

/** ψ(prefix + c) by ESPnet's recurrence over every frame, from the parent's r (rN at [t], rB at [T + t]). */
function fullPass(m: LogProbs, prefix: number[], r: Float64Array, c: number): number {
  const { steps, vocab, data } = m;
  const logAdd = (a: number, b: number) => (a === -Infinity ? b : b === -Infinity ? a : Math.max(a, b) + Math.log1p(Math.exp(-Math.abs(a - b))));
  const last = prefix.length ? prefix[prefix.length - 1] : -1;
  const start = Math.max(prefix.length, 1);
  let psi = prefix.length === 0 ? data[c] : -Infinity;
  for (let t = start; t < steps; t++) {
    const phi = c === last ? r[steps + t - 1] : logAdd(r[t - 1], r[steps + t - 1]);
    psi = logAdd(psi, phi + data[t * vocab + c]);
  }
  return psi;
}
