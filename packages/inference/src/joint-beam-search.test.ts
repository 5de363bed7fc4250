import { prefixBeamSearch, type LogProbs } from './ctc';
import { jointBeamSearch, type AttentionStep, type JointDecodingOptions } from './joint-beam-search';
import { fromProbs, labellingProbs, peaked, randomProbs } from './log-probs.testing';

/** A decoder that scores the next token from the last one only: rows of log-probabilities. */
function bigram(table: (last: number) => number[], calls: number[][][] = []): AttentionStep {
  return async (prefixes) => {
    calls.push(prefixes.map((p) => [...p]));
    const vocab = table(0).length;
    const out = new Float32Array(prefixes.length * vocab);
    prefixes.forEach((p, b) => {
      const row = table(p[p.length - 1]);
      const z = Math.log(row.reduce((s, x) => s + x, 0));
      row.forEach((x, v) => (out[b * vocab + v] = Math.log(x) - z));
    });
    return out;
  };
}

// blank 0, labels 1 and 2, sos/eos 3 (ESPnet's last token)
const BLANK = 0;
const EOS = 3;
const options = (overrides: Partial<JointDecodingOptions> = {}): JointDecodingOptions => ({
  beamWidth: 10,
  ctcWeight: 0.3,
  lengthBonus: 0,
  maxLengthRatio: 0,
  blank: BLANK,
  sos: EOS,
  eos: EOS,
  ...overrides,
});
const uniform = () => [1, 1, 1, 1];

/** The most probable labelling without eos (a label the search only ends on), by brute force over the frame paths. */
const bestLabelling = (m: LogProbs): number[] => labellingProbs(m, BLANK).find((x) => !x.labels.includes(EOS))!.labels;

describe('jointBeamSearch', () => {
  // Frames 1-2 read 1 or 2 (1 a little likelier), frame 3 blank, frame 4 reads 2: CTC alone says [1, 2].
  const ambiguous = fromProbs([
    [0.02, 0.55, 0.41, 0.02],
    [0.02, 0.55, 0.41, 0.02],
    [0.96, 0.02, 0.01, 0.01],
    [0.02, 0.01, 0.96, 0.01],
  ]);
  // The decoder prefers 2 to start a sentence, and is indifferent afterwards.
  const prefersTwoFirst = (last: number) => (last === EOS ? [0, 1, 20, 1] : [0, 5, 5, 5]);

  it('finds the most probable labelling when it scores by CTC alone (λ = 1) with a wide beam, never asking the decoder', async () => {
    const calls: number[][][] = [];
    for (const seed of [1, 2, 3, 4]) {
      const m = randomProbs(5, 4, seed);
      expect(await jointBeamSearch(m, bigram(uniform, calls), options({ ctcWeight: 1, beamWidth: 64 }))).toEqual(bestLabelling(m));
    }
    expect(calls).toEqual([]);
  });

  it('agrees with CTC prefix beam search at λ = 1 on an ambiguous utterance', async () => {
    expect(prefixBeamSearch(ambiguous, BLANK, 8)).toEqual([1, 2]);
    expect(await jointBeamSearch(ambiguous, bigram(prefersTwoFirst), options({ ctcWeight: 1 }))).toEqual([1, 2]);
  });

  it('at λ = 1 with a pre-beam narrower than the labels, proposes each frame\'s top labels and eos, and still ends', async () => {
    // vocab 6 with eos 5: the pre-beam of ⌊1.5·2⌋ = 3 leaves labels out, and no frame ranks eos
    const calls: number[][][] = [];
    const narrow = { ctcWeight: 1, beamWidth: 2, sos: 5, eos: 5 };
    expect(await jointBeamSearch(peaked([1, 1, BLANK, 2, 4, 4], 6), bigram(() => [1, 1, 1, 1, 1, 1], calls), options(narrow))).toEqual([1, 2, 4]);
    expect(await jointBeamSearch(peaked([4, BLANK, 4, 3, 3, BLANK], 6), bigram(() => [1, 1, 1, 1, 1, 1], calls), options(narrow))).toEqual([4, 4, 3]);
    expect(calls).toEqual([]);
  });

  it('lets the decoder choose between spellings the CTC head finds alike', async () => {
    expect(await jointBeamSearch(ambiguous, bigram(prefersTwoFirst), options({ ctcWeight: 0.3 }))).toEqual([2, 2]);
    // a uniform decoder changes nothing
    expect(await jointBeamSearch(ambiguous, bigram(uniform), options({ ctcWeight: 0.3 }))).toEqual([1, 2]);
  });

  it('weighs decoder against CTC by λ: a decoder that dislikes the last label drops it only when weighted enough', async () => {
    // After 1 the decoder thinks the sentence ends: ln 20 against CTC's ln 32 for what frame 4 shows.
    const dislikesTwo = (last: number) => (last === EOS ? [0, 10, 1, 1] : [0, 10, 0.5, 10]);
    expect(await jointBeamSearch(ambiguous, bigram(dislikesTwo), options({ ctcWeight: 0.3 }))).toEqual([1]);
    expect(await jointBeamSearch(ambiguous, bigram(dislikesTwo), options({ ctcWeight: 0.7 }))).toEqual([1, 2]);
  });

  it('runs the decoder once per step on the whole beam: same-length prefixes from sos, at most beam of them', async () => {
    const calls: number[][][] = [];
    await jointBeamSearch(randomProbs(8, 4, 9), bigram(uniform, calls), options({ beamWidth: 3 }));
    expect(calls.length).toBeGreaterThan(0);
    calls.forEach((batch, step) => {
      expect(batch.length).toBeLessThanOrEqual(3);
      for (const prefix of batch) {
        expect(prefix).toHaveLength(step + 1);
        expect(prefix[0]).toBe(EOS);
        expect(prefix.slice(1)).not.toContain(EOS);
      }
    });
  });

  it('stops at the encoder length, or at max_length_ratio of it, however the decoder insists', async () => {
    const neverEnds = () => [0, 1, 1, 1e-12];
    const m = randomProbs(10, 4, 5);
    const calls: number[][][] = [];
    const full = await jointBeamSearch(m, bigram(neverEnds, calls), options({ ctcWeight: 0 }));
    expect(full).toHaveLength(10);
    expect(calls).toHaveLength(10);
    expect(await jointBeamSearch(m, bigram(neverEnds), options({ ctcWeight: 0, maxLengthRatio: 0.3 }))).toHaveLength(3);
  });

  it('adds the length bonus per token: a large one lengthens the output', async () => {
    const endsSoon = (last: number) => (last === EOS ? [0, 1, 1, 0.001] : [0, 1, 1, 3]);
    const m = randomProbs(6, 4, 11);
    const plain = await jointBeamSearch(m, bigram(endsSoon), options({ ctcWeight: 0 }));
    const longer = await jointBeamSearch(m, bigram(endsSoon), options({ ctcWeight: 0, lengthBonus: 5 }));
    expect(plain).toHaveLength(1);
    // five tokens, then eos at the last step (it earns the bonus too; the forced end would not)
    expect(longer).toHaveLength(5);
  });

  it('returns nothing for an utterance without frames', async () => {
    expect(await jointBeamSearch({ data: new Float32Array(0), steps: 0, vocab: 4 }, bigram(uniform), options())).toEqual([]);
  });

  it('refuses a decoder that returns the wrong number of scores', async () => {
    const broken: AttentionStep = async () => new Float32Array(3);
    await expect(jointBeamSearch(ambiguous, broken, options())).rejects.toThrow(/returned 3 scores for 1 hypotheses of 4 tokens/);
  });
});
