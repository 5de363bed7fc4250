import type { LogProbs, ScoredLabels } from './ctc';
import { CtcPrefixScorer, type CtcPrefixState } from './ctc-prefix-score';
import { topIds } from './score-rows';

/**
 * Joint CTC/attention decoding as ESPnet's `BeamSearch` runs it for Auto-AVSR (`ctc_weight` 0.1,
 * beam 40, `penalty` 0, `maxlenratio` 0): a label-synchronous beam search where extending a
 * hypothesis by token c scores
 *
 *   (1 − λ)·log p_att(c | prefix, encoder) + λ·(ψ(prefix + c) − ψ(prefix)) + length bonus
 *
 * with ψ the CTC prefix score over the whole utterance's CTC posteriors. Each hypothesis first
 * keeps the ⌊1.5·beam⌋ tokens the decoder likes best (ESPnet's pre-beam), then its `beam` best; the
 * `beam` best of all of those go on. A hypothesis ends on `eos`; the search stops when every
 * running one ends, at ESPnet's end detection, when nothing running can still beat the best ended
 * one, or at the maximum length (the encoder's steps, or `maxLengthRatio` of them).
 */
export interface JointDecodingOptions {
  beamWidth: number;
  /** λ: 1 scores by CTC alone, 0 by the decoder alone */
  ctcWeight: number;
  /** added per emitted token, `eos` included (ESPnet's LengthBonus × penalty) */
  lengthBonus: number;
  /** most tokens as a fraction of the encoder's steps; 0: the steps themselves */
  maxLengthRatio: number;
  blank: number;
  sos: number;
  eos: number;
}

/**
 * The decoder, one step for a batch of prefixes (each starting with sos, all the same length):
 * `vocab` log-probabilities of the next token per prefix, row-major. `parents[b]` is the row of
 * the previous call that prefix b extends ([0] on the first call), for decoders that keep each
 * hypothesis' state between steps.
 */
export type AttentionStep = (prefixes: readonly (readonly number[])[], parents: readonly number[]) => Promise<Float32Array>;

interface Hypothesis {
  /** sos, then the tokens */
  yseq: number[];
  score: number;
  ctc?: CtcPrefixState;
  /** the row of the last decoder call this hypothesis extends */
  parentRow: number;
  /** the decoder's log-probability of each token (without sos), when the decoder was asked */
  att?: number[];
}

/** A hypothesis of the joint search: labels and total score, and the decoder's log-probability of each label. */
export interface JointHypothesis extends ScoredLabels {
  /** per label, when the decoder scored them (CTC weight below 1) */
  tokenScores?: number[];
}

interface Candidate {
  parent: Hypothesis;
  /** the parent's row in this step's decoder call */
  row: number;
  token: number;
  score: number;
  ctcScore: number;
  /** the decoder's log-probability of the token, when it was asked */
  attScore?: number;
}

/** ESPnet's `pre_beam_ratio`. */
const PRE_BEAM_RATIO = 1.5;
/** ESPnet's `end_detect`: the last M lengths' best ended hypotheses all trail the best by more than D_END. */
const END_DETECT_M = 3;
const END_DETECT_D = -10;

/** Decodes one utterance; returns the best hypothesis' tokens without sos and eos. */
export async function jointBeamSearch(ctc: LogProbs, attention: AttentionStep, options: JointDecodingOptions): Promise<number[]> {
  return (await jointBeamSearchNBest(ctc, attention, options))[0]?.labels ?? [];
}

/**
 * The same search's ended hypotheses (issue 17), best first by their total score, each without sos
 * and eos; the first is `jointBeamSearch`'s. Ties keep the order in which they ended.
 */
export async function jointBeamSearchNBest(ctc: LogProbs, attention: AttentionStep, options: JointDecodingOptions): Promise<JointHypothesis[]> {
  const { beamWidth, ctcWeight, lengthBonus, blank, sos, eos } = options;
  const { vocab, steps } = ctc;
  if (steps === 0) return [];
  const attWeight = 1 - ctcWeight;
  const scorer = ctcWeight > 0 ? new CtcPrefixScorer(ctc, blank, eos) : undefined;
  const maxLength = options.maxLengthRatio > 0 ? Math.max(1, Math.floor(options.maxLengthRatio * steps)) : steps;
  const preBeam = Math.floor(PRE_BEAM_RATIO * beamWidth);
  // Never proposed: the blank is not a token of the text (CTC scores it -∞ anyway), nor a second sos.
  const skipSos = sos === eos ? -1 : sos;
  const emittable = Array.from({ length: vocab }, (_, v) => v).filter((v) => v !== blank && v !== skipSos);
  // With the decoder weighted 0 its scores cannot pick candidates; take every label some frame ranks high, and eos.
  const ctcCandidates = attWeight > 0 || preBeam >= emittable.length ? emittable : frameTopLabels(ctc, preBeam, blank, skipSos, eos);

  let running: Hypothesis[] = [{ yseq: [sos], score: 0, parentRow: 0, ...(scorer ? { ctc: scorer.initial() } : {}) }];
  const ended: Ended[] = [];
  for (let i = 0; i < maxLength && running.length > 0; i++) {
    const att = attWeight > 0 ? await attention(running.map((h) => h.yseq), running.map((h) => h.parentRow)) : undefined;
    if (att && att.length !== running.length * vocab) {
      throw new Error(`the decoder returned ${att.length} scores for ${running.length} hypotheses of ${vocab} tokens`);
    }
    let candidates: Candidate[] = [];
    running.forEach((hyp, b) => {
      const row = att ? att.subarray(b * vocab, (b + 1) * vocab) : undefined;
      const ids = row && preBeam < emittable.length ? topIds(row, preBeam, blank, skipSos) : ctcCandidates;
      const prefix = hyp.yseq.slice(1);
      const psi = scorer && hyp.ctc ? scorer.score(prefix, hyp.ctc, ids) : undefined;
      const mine: Candidate[] = ids.map((token, k) => {
        let score = hyp.score + lengthBonus;
        if (row) score += attWeight * row[token];
        const ctcScore = psi ? psi[k] : 0;
        if (psi && hyp.ctc) score += ctcWeight * (ctcScore - hyp.ctc.score);
        return { parent: hyp, row: b, token, score, ctcScore, ...(row ? { attScore: row[token] } : {}) };
      });
      candidates.push(...best(mine, beamWidth));
    });
    candidates = best(candidates, beamWidth).filter((c) => c.score > -Infinity);

    const next: Hypothesis[] = [];
    for (const c of candidates) {
      const yseq = [...c.parent.yseq, c.token];
      if (c.token === eos) {
        ended.push({ yseq, score: c.score, ...(c.parent.att ? { att: c.parent.att } : {}) });
        continue;
      }
      const state = scorer && c.parent.ctc ? scorer.extend(c.parent.yseq.slice(1), c.parent.ctc, c.token, c.ctcScore) : undefined;
      const att = c.attScore !== undefined ? [...(c.parent.att ?? []), c.attScore] : undefined;
      next.push({ yseq, score: c.score, parentRow: c.row, ...(state ? { ctc: state } : {}), ...(att ? { att } : {}) });
    }
    running = next;
    // ESPnet ends what is still running at the maximum length, adding no score for the forced end.
    if (i === maxLength - 1) for (const h of running) ended.push({ yseq: [...h.yseq, eos], score: h.score, ...(h.att ? { att: h.att } : {}) });
    if (options.maxLengthRatio === 0 && endDetect(ended, i)) break;
    // Every term of a score is a log-probability (≤ 0): with no positive bonus a hypothesis can only
    // lose score as it grows, so once an ended one leads, nothing running can overtake it.
    if (lengthBonus <= 0 && ended.length && running.every((h) => h.score <= bestEnded(ended).score)) break;
  }
  // Stable: among equal scores the first to end leads, as `bestEnded` picks it.
  return ended
    .map((h, i) => ({ h, i }))
    .sort((a, b) => b.h.score - a.h.score || a.i - b.i)
    .map(({ h }) => {
      const labels = h.yseq.slice(1, h.yseq[h.yseq.length - 1] === eos ? -1 : undefined);
      return { labels, score: h.score, ...(h.att ? { tokenScores: h.att.slice(0, labels.length) } : {}) };
    });
}

type Ended = Pick<Hypothesis, 'yseq' | 'score' | 'att'>;

const bestEnded = (ended: Ended[]): Ended => ended.reduce((a, b) => (b.score > a.score ? b : a));

/** The `k` best candidates, highest score first; ties keep their order (lower token first). */
function best(candidates: Candidate[], k: number): Candidate[] {
  return candidates
    .map((c, i) => ({ c, i }))
    .sort((a, b) => b.c.score - a.c.score || a.i - b.i)
    .slice(0, k)
    .map(({ c }) => c);
}

/** ESPnet's `end_detect` (espnet.nets.e2e_asr_common), with `i` the step just taken. */
function endDetect(ended: Ended[], i: number): boolean {
  if (!ended.length) return false;
  const top = bestEnded(ended).score;
  let count = 0;
  for (let m = 0; m < END_DETECT_M; m++) {
    const sameLength = ended.filter((h) => h.yseq.length === i - m);
    if (sameLength.length && bestEnded(sameLength).score - top < END_DETECT_D) count++;
  }
  return count === END_DETECT_M;
}

/**
 * Labels among the `k` most likely of some frame, and `eos`, in id order: the candidates when only
 * CTC scores. The CTC head never emits eos, so no frame ranks it, yet without it no hypothesis ends
 * and the search returns whatever runs at the maximum length.
 */
function frameTopLabels(ctc: LogProbs, k: number, skipA: number, skipB: number, eos: number): number[] {
  const { data, steps, vocab } = ctc;
  const picked = new Set<number>([eos]);
  for (let t = 0; t < steps; t++) for (const v of topIds(data.subarray(t * vocab, (t + 1) * vocab), k, skipA, skipB)) picked.add(v);
  return [...picked].sort((a, b) => a - b);
}
