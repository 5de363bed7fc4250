import { forcedAlign, prefixBeamSearch, prefixBeamSearchNBest, spanConfidences, type LogProbs } from './ctc';
import { jointBeamSearch, jointBeamSearchNBest, type AttentionStep } from './joint-beam-search';
import { alternativesOf, withDecoderScores } from './lip-reader';
import { fromProbs, labellingProbs, randomProbs } from './log-probs.testing';
import { spansToSegments, type TokenSpec } from './transcript';

/**
 * Issue 17: per-word confidence from the aligned frames' posteriors, and the N best hypotheses of
 * the searches, on crafted log-probability rows.
 */

// blank, word separator, letters
const spec: TokenSpec = { tokens: ['<blank>', '|', 'B', 'P', 'A', 'T', '<unk>'], wordDelimiter: '|' };
const [BLANK, SEP, B, P, A, T, UNK] = [0, 1, 2, 3, 4, 5, 6];
const VOCAB = spec.tokens.length;

/** A row that gives `label` probability `p` and shares the rest evenly. */
const row = (label: number, p: number) => Array.from({ length: VOCAB }, (_, v) => (v === label ? p : (1 - p) / (VOCAB - 1)));

/** Frames for "BAT PAT BAT": each letter over two frames, a blank after it, the separator between words. */
function sentence(sureness: (word: number) => number): LogProbs {
  const rows: number[][] = [];
  const words = [[B, A, T], [P, A, T], [B, A, T]];
  words.forEach((letters, w) => {
    if (w > 0) rows.push(row(SEP, 0.97), row(BLANK, 0.97));
    for (const letter of letters) rows.push(row(letter, sureness(w)), row(letter, sureness(w)), row(BLANK, 0.97));
  });
  return fromProbs(rows);
}

const transcribe = (m: LogProbs) => {
  const labels = prefixBeamSearch(m, BLANK, 8);
  return spansToSegments(spanConfidences(m, forcedAlign(m, labels, BLANK)), spec, 0.04);
};

describe('per-word confidence from the aligned frames', () => {
  it("is each label's mean frame probability on the aligned path", () => {
    const m = fromProbs([row(B, 0.9), row(B, 0.5), row(BLANK, 0.9), row(A, 0.7)]);
    const spans = spanConfidences(m, forcedAlign(m, [B, A], BLANK));
    expect(spans.map((s) => [s.label, s.start, s.end])).toEqual([
      [B, 0, 1],
      [A, 3, 3],
    ]);
    expect(spans[0].confidence).toBeCloseTo(0.7, 6);
    expect(spans[1].confidence).toBeCloseTo(0.7, 6);
  });

  it("gives a word its weakest letter's confidence, and every word one", () => {
    const m = fromProbs([row(B, 0.95), row(BLANK, 0.97), row(A, 0.4), row(BLANK, 0.97), row(T, 0.9), row(SEP, 0.97), row(P, 0.8)]);
    const segments = transcribe(m);
    expect(segments.map((s) => s.text)).toEqual(['BAT', 'P']);
    expect(segments[0].confidence).toBeCloseTo(0.4, 4);
    expect(segments[1].confidence).toBeCloseTo(0.8, 4);
  });

  it('falls on the word whose frames are degraded and stays high on the others', () => {
    const clean = transcribe(sentence(() => 0.95));
    const degraded = transcribe(sentence((w) => (w === 1 ? 0.45 : 0.95)));
    // the same words either way: the degraded one is still read, only less surely
    expect(degraded.map((s) => s.text)).toEqual(['BAT', 'PAT', 'BAT']);
    expect(clean.map((s) => s.text)).toEqual(['BAT', 'PAT', 'BAT']);
    for (const s of clean) expect(s.confidence).toBeGreaterThan(0.9);
    expect(degraded[0].confidence).toBeGreaterThan(0.9);
    expect(degraded[2].confidence).toBeGreaterThan(0.9);
    expect(degraded[1].confidence).toBeLessThan(0.5);
  });

  it('weighs in the decoder as the search does: log c = λ·log c_ctc + (1 − λ)·log p_att', () => {
    const spans = [
      { label: B, start: 0, end: 0, confidence: 0.9 },
      { label: A, start: 1, end: 1, confidence: 0.9 },
    ];
    const weighed = withDecoderScores(spans, [Math.log(0.9), Math.log(0.1)], 0.3);
    expect(weighed[0].confidence).toBeCloseTo(0.9, 6);
    expect(weighed[1].confidence).toBeCloseTo(Math.exp(0.3 * Math.log(0.9) + 0.7 * Math.log(0.1)), 6);
    // λ = 1: CTC alone; λ = 0: the decoder alone, even where CTC gave the label nothing
    expect(withDecoderScores(spans, [Math.log(0.5), Math.log(0.5)], 1)).toEqual(spans);
    expect(withDecoderScores([{ ...spans[0], confidence: 0 }], [Math.log(0.5)], 0)[0].confidence).toBeCloseTo(0.5, 6);
  });
});

describe('prefixBeamSearchNBest', () => {
  it("starts with prefixBeamSearch's result, scores descending, over random matrices and widths", () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      for (const width of [1, 3, 8]) {
        const m = randomProbs(6, 5, seed);
        const nbest = prefixBeamSearchNBest(m, BLANK, width);
        expect(nbest[0].labels).toEqual(prefixBeamSearch(m, BLANK, width));
        expect(nbest.length).toBeLessThanOrEqual(width);
        for (let i = 1; i < nbest.length; i++) expect(nbest[i].score).toBeLessThanOrEqual(nbest[i - 1].score);
      }
    }
  });

  it('scores each hypothesis by its exact total log-probability when the beam keeps every prefix', () => {
    const m = randomProbs(4, 3, 7);
    const exact = labellingProbs(m, BLANK);
    const nbest = prefixBeamSearchNBest(m, BLANK, 64);
    for (const h of nbest.slice(0, 5)) {
      const truth = exact.find((x) => x.labels.join() === h.labels.join())!;
      expect(h.score).toBeCloseTo(Math.log(truth.p), 4);
    }
    expect(nbest.slice(0, 5).map((h) => h.labels)).toEqual(exact.slice(0, 5).map((x) => x.labels));
  });
});

describe('jointBeamSearchNBest', () => {
  const EOS = VOCAB; // one more token: sos/eos last, as ESPnet has it
  const withEos = (m: LogProbs): LogProbs => {
    const data = new Float32Array(m.steps * (VOCAB + 1));
    for (let t = 0; t < m.steps; t++) {
      data.set(m.data.subarray(t * VOCAB, (t + 1) * VOCAB), t * (VOCAB + 1));
      data[t * (VOCAB + 1) + VOCAB] = -Infinity;
    }
    return { data, steps: m.steps, vocab: VOCAB + 1 };
  };
  /** a decoder that likes P a little more than B after nothing, and is even about the rest */
  const decoder: AttentionStep = async (prefixes) => {
    const out = new Float32Array(prefixes.length * (VOCAB + 1));
    prefixes.forEach((p, b) => {
      const likes = Array.from({ length: VOCAB + 1 }, (_, v) => (v === BLANK ? 1e-9 : v === P && p.length === 1 ? 3 : 1));
      const z = likes.reduce((s, x) => s + x, 0);
      likes.forEach((x, v) => (out[b * (VOCAB + 1) + v] = Math.log(x / z)));
    });
    return out;
  };
  const options = { beamWidth: 6, ctcWeight: 0.5, lengthBonus: 0, maxLengthRatio: 0, blank: BLANK, sos: EOS, eos: EOS };
  // B or P at the start (B likelier to CTC), then A T
  const m = withEos(fromProbs([
    [0.02, 0.02, 0.5, 0.4, 0.02, 0.02, 0.02],
    [0.9, 0.02, 0.02, 0.02, 0.02, 0.01, 0.01],
    [0.02, 0.02, 0.02, 0.02, 0.88, 0.02, 0.02],
    [0.9, 0.02, 0.02, 0.02, 0.02, 0.01, 0.01],
    [0.02, 0.02, 0.02, 0.02, 0.02, 0.88, 0.02],
  ]));

  it("starts with jointBeamSearch's result, scores descending, with the decoder's log-probability of each token", async () => {
    const nbest = await jointBeamSearchNBest(m, decoder, options);
    expect(nbest[0].labels).toEqual(await jointBeamSearch(m, decoder, options));
    expect(nbest.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < nbest.length; i++) expect(nbest[i].score).toBeLessThanOrEqual(nbest[i - 1].score);
    const labels = nbest.map((h) => h.labels.join());
    expect(labels).toContain([B, A, T].join());
    expect(labels).toContain([P, A, T].join());
    const pat = nbest.find((h) => h.labels.join() === [P, A, T].join())!;
    // the decoder's own scores, token by token: P after sos is 3 of 3 + 6 (blank ~0), then even
    expect(pat.tokenScores!.map((s) => Math.exp(s))).toEqual([expect.closeTo(3 / 9, 5), expect.closeTo(1 / 7, 5), expect.closeTo(1 / 7, 5)]);
  });

  it('keeps no decoder scores when only CTC scores (λ = 1)', async () => {
    const nbest = await jointBeamSearchNBest(m, decoder, { ...options, ctcWeight: 1 });
    expect(nbest[0].labels).toEqual([B, A, T]);
    expect(nbest[0].tokenScores).toBeUndefined();
  });
});

describe('alternativesOf', () => {
  it('gives distinct texts, the transcript first, at most n, skipping control symbols and impossible hypotheses', () => {
    const hypotheses = [
      { labels: [B, A, T], score: -1 },
      { labels: [B, UNK, A, T], score: -1.5 }, // spells BAT again
      { labels: [P, A, T], score: -2 },
      { labels: [B, A, SEP, T], score: -Infinity },
      { labels: [P, A], score: -3 },
      { labels: [B, A], score: -4 },
    ];
    expect(alternativesOf(hypotheses, 'BAT', -1, 3, spec)).toEqual([
      { text: 'BAT', score: -1 },
      { text: 'PAT', score: -2 },
      { text: 'PA', score: -3 },
    ]);
    expect(alternativesOf(hypotheses, 'BAT', -1, 1, spec)).toEqual([{ text: 'BAT', score: -1 }]);
  });
});
