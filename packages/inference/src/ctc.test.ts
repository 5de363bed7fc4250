import { forcedAlign, greedyDecode, logSoftmaxRows, prefixBeamSearch, type LabelSpan, type LogProbs } from './ctc';
import { framePaths, fromProbs, labellingProbs, peaked, randomProbs } from './log-probs.testing';
import { logAdd } from './score-rows';

const BLANK = 0;
const A = 1;
const B = 2;
const C = 3;

const at = (m: LogProbs, t: number, v: number) => m.data[t * m.vocab + v];

/** The label sequence with the highest total probability, by summing every path (exact CTC decoding). */
function bruteForceBestLabels(m: LogProbs, blank: number): { labels: number[]; prob: number; runnerUp: number } {
  const [best, second] = labellingProbs(m, blank);
  return { labels: best.labels, prob: best.p, runnerUp: second?.p ?? 0 };
}

describe('greedyDecode', () => {
  it('merges consecutive repeats of a label into one', () => {
    expect(greedyDecode(peaked([A, A, A, B, B], 4), BLANK)).toEqual([A, B]);
  });

  it('drops blank frames anywhere in the sequence', () => {
    expect(greedyDecode(peaked([BLANK, A, BLANK, BLANK, B, BLANK], 4), BLANK)).toEqual([A, B]);
  });

  it('keeps a repeated letter twice when a blank separates the two runs', () => {
    expect(greedyDecode(peaked([A, A, BLANK, A, B, BLANK, B], 4), BLANK)).toEqual([A, A, B, B]);
  });

  it('returns nothing for an all-blank or empty matrix', () => {
    expect(greedyDecode(peaked([BLANK, BLANK, BLANK], 4), BLANK)).toEqual([]);
    expect(greedyDecode({ data: new Float32Array(0), steps: 0, vocab: 4 }, BLANK)).toEqual([]);
  });

  it('honours a blank that is not index 0', () => {
    // vocab [A, B, C, blank]: index 3 is the blank
    expect(greedyDecode(peaked([0, 3, 0, 1, 1, 3], 4), 3)).toEqual([0, 0, 1]);
  });

  it('picks the arg-max of each row, not the first non-blank label', () => {
    const m = fromProbs([
      [0.1, 0.2, 0.7],
      [0.1, 0.6, 0.3],
    ]);
    expect(greedyDecode(m, BLANK)).toEqual([B, A]);
  });
});

/** The `k` best ids of a row, best first, ties to the lower id: a sort, so the comparison below also checks the windowed `topIds`. */
const plainTopIds = (row: Float32Array, k: number): number[] =>
  Array.from(row, (_, v) => v)
    .sort((a, b) => row[b] - row[a] || a - b)
    .slice(0, k);

/**
 * The search as first written, keyed by `labels.join(',')`: the trie-keyed one must find exactly
 * what it found (same beams, same tie order), only with less garbage.
 */
function joinKeyedPrefixBeamSearch(m: LogProbs, blank: number, beamWidth: number): number[] {
  type Beam = { labels: number[]; pBlank: number; pLabel: number };
  const total = (b: Beam) => logAdd(b.pBlank, b.pLabel);
  let beams = new Map<string, Beam>([['', { labels: [], pBlank: 0, pLabel: -Infinity }]]);
  const k = Math.min(m.vocab, beamWidth + 1);
  for (let t = 0; t < m.steps; t++) {
    const row = t * m.vocab;
    const top = k >= m.vocab ? Array.from({ length: m.vocab }, (_, v) => v) : plainTopIds(m.data.subarray(row, row + m.vocab), k);
    const next = new Map<string, Beam>();
    const entry = (labels: number[]) => {
      const key = labels.join(',');
      if (!next.has(key)) next.set(key, { labels, pBlank: -Infinity, pLabel: -Infinity });
      return next.get(key)!;
    };
    for (const beam of beams.values()) {
      const pAll = total(beam);
      const last = beam.labels.length ? beam.labels[beam.labels.length - 1] : -1;
      for (const v of top) {
        const p = m.data[row + v];
        if (v === blank) {
          const same = entry(beam.labels);
          same.pBlank = logAdd(same.pBlank, pAll + p);
          continue;
        }
        const extended = entry([...beam.labels, v]);
        if (v === last) {
          extended.pLabel = logAdd(extended.pLabel, beam.pBlank + p);
          const same = entry(beam.labels);
          same.pLabel = logAdd(same.pLabel, beam.pLabel + p);
        } else {
          extended.pLabel = logAdd(extended.pLabel, pAll + p);
        }
      }
    }
    beams = new Map([...next.entries()].sort((a, b) => total(b[1]) - total(a[1])).slice(0, beamWidth));
  }
  let best: Beam | undefined;
  for (const beam of beams.values()) if (!best || total(beam) > total(best)) best = beam;
  return best ? best.labels : [];
}

describe('prefixBeamSearch', () => {
  it('finds exactly what the join-keyed search found, over random matrices, widths and blanks', () => {
    let differsFromGreedy = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const vocab = 3 + (seed % 9);
      const m = randomProbs(40 + (seed % 25), vocab, seed);
      const blank = seed % 3 === 0 ? vocab - 1 : 0;
      for (const width of [1, 2, 4, 8]) {
        const labels = prefixBeamSearch(m, blank, width);
        expect({ seed, width, labels }).toEqual({ seed, width, labels: joinKeyedPrefixBeamSearch(m, blank, width) });
        if (labels.join(',') !== greedyDecode(m, blank).join(',')) differsFromGreedy++;
      }
    }
    // flat random rows: the searches often disagree with greedy decoding, so the comparison has teeth
    expect(differsFromGreedy).toBeGreaterThan(20);
  });

  it('keeps the first-reached beam among equal totals, as the join-keyed search did', () => {
    // every row uniform: all prefixes of a length tie, and only insertion order picks the survivors
    const m = fromProbs(Array.from({ length: 6 }, () => [0.25, 0.25, 0.25, 0.25]));
    for (const width of [1, 2, 3, 5]) expect(prefixBeamSearch(m, BLANK, width)).toEqual(joinKeyedPrefixBeamSearch(m, BLANK, width));
  });

  it('agrees with greedy decoding on peaked distributions', () => {
    const cases = [
      [A, A, BLANK, B, C, C],
      [BLANK, A, BLANK, A, BLANK],
      [C, B, A, BLANK, BLANK, A, A],
      [BLANK, BLANK],
    ];
    for (const best of cases) {
      const m = peaked(best, 4, 0.95);
      const greedy = greedyDecode(m, BLANK);
      expect(prefixBeamSearch(m, BLANK, 8)).toEqual(greedy);
      expect(prefixBeamSearch(m, BLANK, 1)).toEqual(greedy);
    }
  });

  it('finds "A" where the greedy path is all blank but the paths spelling "A" have more total probability', () => {
    // Two frames, P(blank) = 0.6, P(A) = 0.4 each. Greedy reads blank-blank: "" with P = 0.36.
    // "A" is spelled by A-A, A-blank and blank-A: 0.16 + 0.24 + 0.24 = 0.64.
    const m = fromProbs([
      [0.6, 0.4],
      [0.6, 0.4],
    ]);
    expect(greedyDecode(m, BLANK)).toEqual([]);
    expect(prefixBeamSearch(m, BLANK, 2)).toEqual([A]);
    expect(bruteForceBestLabels(m, BLANK).labels).toEqual([A]);
    expect(bruteForceBestLabels(m, BLANK).prob).toBeCloseTo(0.64, 6);
  });

  it('prefers "AB" over greedy "A" when the B mass is split across frames', () => {
    // Frame by frame the arg-max reads A, blank, blank → "A" (path P = 0.5·0.4·0.4 = 0.08), but
    // B is almost as likely as blank in frames 2 and 3, and "AB" collects many more paths.
    const m = fromProbs([
      [0.3, 0.5, 0.2],
      [0.4, 0.25, 0.35],
      [0.4, 0.25, 0.35],
    ]);
    expect(greedyDecode(m, BLANK)).toEqual([A]);
    const exact = bruteForceBestLabels(m, BLANK);
    expect(exact.labels).toEqual([A, B]);
    expect(prefixBeamSearch(m, BLANK, 8)).toEqual([A, B]);
  });

  it('keeps a repeated label only when the probability of a blank between them wins', () => {
    // "AA" needs A, blank, A. With a confident blank in the middle the doubled label wins;
    // with a confident A in the middle every path collapses to a single "A".
    const withGap = fromProbs([
      [0.05, 0.9, 0.05],
      [0.9, 0.05, 0.05],
      [0.05, 0.9, 0.05],
    ]);
    const withoutGap = fromProbs([
      [0.05, 0.9, 0.05],
      [0.05, 0.9, 0.05],
      [0.05, 0.9, 0.05],
    ]);
    expect(prefixBeamSearch(withGap, BLANK, 4)).toEqual([A, A]);
    expect(prefixBeamSearch(withoutGap, BLANK, 4)).toEqual([A]);
  });

  it('returns the exact most probable labelling when the beam is wide enough to keep every prefix', () => {
    let checked = 0;
    let greedyWrong = 0;
    for (let seed = 1; seed <= 25; seed++) {
      const m = randomProbs(5, 3, seed);
      const exact = bruteForceBestLabels(m, BLANK);
      if (exact.prob - exact.runnerUp < 1e-5) continue; // a near tie would test float rounding, not the search
      expect({ seed, labels: prefixBeamSearch(m, BLANK, 256) }).toEqual({ seed, labels: exact.labels });
      checked++;
      if (greedyDecode(m, BLANK).join(',') !== exact.labels.join(',')) greedyWrong++;
    }
    expect(checked).toBeGreaterThanOrEqual(20);
    // the flat random rows make greedy decoding miss the best labelling in some cases: the check has teeth
    expect(greedyWrong).toBeGreaterThan(0);
  });

  it('only expands the top labels per frame, yet still decodes a peaked large vocabulary', () => {
    // 500 labels, blank last; the frames spell 17, 17 (across a blank), 498, 250.
    const vocab = 500;
    const blank = vocab - 1;
    const best = [17, 17, blank, 17, 498, 498, blank, 250];
    const m = peaked(best, vocab, 0.8);
    expect(prefixBeamSearch(m, blank, 4)).toEqual([17, 17, 498, 250]);
  });

  it('returns an empty sequence for zero frames', () => {
    expect(prefixBeamSearch({ data: new Float32Array(0), steps: 0, vocab: 3 }, BLANK, 4)).toEqual([]);
  });
});

describe('logSoftmaxRows', () => {
  it('turns each row of raw logits into log-probabilities that sum to 1', () => {
    const logits = [
      [1, 2, 3, 4],
      [-5, 0, 5, 10],
      [0, 0, 0, 0],
      [1000, 999, 998, -1000], // large values must not overflow
    ];
    const m: LogProbs = { data: Float32Array.from(logits.flat()), steps: 4, vocab: 4 };
    const out = logSoftmaxRows(m);
    expect(out).toBe(m); // in place
    for (let t = 0; t < 4; t++) {
      let sum = 0;
      for (let v = 0; v < 4; v++) {
        expect(at(m, t, v)).toBeLessThanOrEqual(0);
        sum += Math.exp(at(m, t, v));
      }
      expect(sum).toBeCloseTo(1, 5);
    }
    // uniform logits → log(1/4) everywhere
    for (let v = 0; v < 4; v++) expect(at(m, 2, v)).toBeCloseTo(Math.log(0.25), 6);
    // softmax([1,2,3,4])[3] = e^3 / (1 + e + e^2 + e^3)
    const e = Math.E;
    expect(Math.exp(at(m, 0, 3))).toBeCloseTo(e ** 3 / (1 + e + e ** 2 + e ** 3), 6);
  });

  it('keeps the order of the scores within a row (arg-max unchanged)', () => {
    const m: LogProbs = { data: Float32Array.from([0.3, -2, 7, 1, 9, 8]), steps: 2, vocab: 3 };
    logSoftmaxRows(m);
    expect(greedyDecode(m, BLANK)).toEqual([B, A]);
  });
});

describe('forcedAlign', () => {
  it('reports the frame span of each label on a known matrix', () => {
    // frames:  0  1  2  3  4  5  6
    // best:    -  A  A  -  B  B  -
    const m = peaked([BLANK, A, A, BLANK, B, B, BLANK], 3, 0.9);
    expect(forcedAlign(m, [A, B], BLANK)).toEqual<LabelSpan[]>([
      { label: A, start: 1, end: 2 },
      { label: B, start: 4, end: 5 },
    ]);
  });

  it('splits a repeated label at the blank between its two runs', () => {
    const m = peaked([A, A, BLANK, A, BLANK], 3, 0.9);
    expect(forcedAlign(m, [A, A], BLANK)).toEqual<LabelSpan[]>([
      { label: A, start: 0, end: 1 },
      { label: A, start: 3, end: 3 },
    ]);
  });

  it('forces the given labels even where the frames prefer others', () => {
    // The frames say "B" throughout, but we ask for A then C: each must get at least one frame, in order.
    const m = peaked([B, B, B, B], 4, 0.7);
    const spans = forcedAlign(m, [A, C], BLANK);
    expect(spans.map((s) => s.label)).toEqual([A, C]);
    expect(spans[0].start).toBeLessThanOrEqual(spans[0].end);
    expect(spans[0].end).toBeLessThan(spans[1].start);
    expect(spans[1].end).toBeLessThanOrEqual(3);
  });

  it('finds the single most likely path, as an exhaustive search does', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const m = randomProbs(6, 3, 100 + seed);
      const labels = [A, B, A];
      let bestScore = -Infinity;
      let bestPath: number[] = [];
      for (const { path, logp, labels: spelled } of framePaths(m, BLANK)) {
        if (spelled.join(',') !== labels.join(',')) continue;
        if (logp > bestScore) {
          bestScore = logp;
          bestPath = path;
        }
      }
      // spans of the best path: consecutive non-blank runs in order
      const expected: LabelSpan[] = [];
      let prev = BLANK;
      bestPath.forEach((v, t) => {
        if (v !== BLANK && v === prev) expected[expected.length - 1].end = t;
        else if (v !== BLANK) expected.push({ label: v, start: t, end: t });
        prev = v;
      });
      expect({ seed, spans: forcedAlign(m, labels, BLANK) }).toEqual({ seed, spans: expected });
    }
  });

  it('returns [] when the labels cannot fit into the frames', () => {
    // "AB" needs 2 frames; "AA" needs 3 (A, blank, A)
    expect(forcedAlign(peaked([A], 3), [A, B], BLANK)).toEqual([]);
    expect(forcedAlign(peaked([A, A], 3), [A, A], BLANK)).toEqual([]);
    expect(forcedAlign({ data: new Float32Array(0), steps: 0, vocab: 3 }, [A], BLANK)).toEqual([]);
  });

  it('aligns labels that exactly fill the frames', () => {
    expect(forcedAlign(peaked([A, BLANK, A], 3), [A, A], BLANK)).toEqual<LabelSpan[]>([
      { label: A, start: 0, end: 0 },
      { label: A, start: 2, end: 2 },
    ]);
    expect(forcedAlign(peaked([B, A], 3), [A, B], BLANK)).toEqual<LabelSpan[]>([
      { label: A, start: 0, end: 0 },
      { label: B, start: 1, end: 1 },
    ]);
  });

  it('returns [] for an empty label sequence', () => {
    expect(forcedAlign(peaked([A, B], 3), [], BLANK)).toEqual([]);
  });
});
