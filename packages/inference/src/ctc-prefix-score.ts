import type { LogProbs } from './ctc';
import { logAdd } from './score-rows';

/**
 * CTC prefix scoring for label-synchronous (attention) beam search: Watanabe et al., "Hybrid
 * CTC/Attention Architecture for End-to-End Speech Recognition" (2017), Algorithm 2, as ESPnet's
 * `CTCPrefixScore` implements it and Auto-AVSR decodes with it.
 *
 * The prefix score ψ(g) is log P(the CTC labelling of the whole input starts with g). A hypothesis
 * keeps, per frame t, the log-probabilities of having emitted exactly g by t ending in a label
 * (`rN`) or in blank (`rB`); extending g by c needs one pass over the frames.
 */
export interface CtcPrefixState {
  /** ψ of this prefix (0 for the empty one) */
  score: number;
  /** rN at [t], rB at [steps + t] */
  r: Float64Array;
}

/** Terms this far (in nats) below the running maximum change a log-sum-exp by less than 1e-17: skipped. */
const NEGLIGIBLE = -40;
/** How far below a prefix's best frame a frame may be and still be scored (see `window`). */
const WINDOW = 200;

export class CtcPrefixScorer {
  private readonly steps: number;
  private readonly vocab: number;

  constructor(
    private readonly logProbs: LogProbs,
    readonly blank: number,
    /** the end-of-sentence token: its score is that of the prefix being the whole labelling */
    readonly eos: number,
  ) {
    this.steps = logProbs.steps;
    this.vocab = logProbs.vocab;
  }

  /** The empty prefix: nothing emitted, blanks only. */
  initial(): CtcPrefixState {
    const { steps, vocab, blank } = this;
    const x = this.logProbs.data;
    const r = new Float64Array(2 * steps).fill(-Infinity);
    let acc = 0;
    for (let t = 0; t < steps; t++) {
      acc += x[t * vocab + blank];
      r[steps + t] = acc;
    }
    return { score: 0, r };
  }

  /**
   * ψ(prefix + c) for each candidate c: -Infinity for the blank, the prefix's whole-labelling
   * probability for `eos`. `prefix` excludes sos. Cheap (one log-sum-exp over the frames per
   * candidate); `extend` builds the state only for candidates the search keeps.
   */
  score(prefix: readonly number[], state: CtcPrefixState, candidates: readonly number[]): Float64Array {
    const { steps, vocab, blank, eos } = this;
    const x = this.logProbs.data;
    const L = prefix.length;
    const last = L > 0 ? prefix[L - 1] : -1;
    const { rSum, rB } = this.sums(state);
    const start = Math.max(L, 1);
    const [from, to] = this.window(rSum, start);
    const out = new Float64Array(candidates.length);
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i];
      if (c === blank) {
        out[i] = -Infinity;
      } else if (c === eos) {
        out[i] = steps > 0 ? rSum[steps - 1] : -Infinity;
      } else {
        // ψ = logsumexp(r_N[start-1], φ[t-1] + x[t, c] for t ≥ start), φ = r_B only after a repeat
        const phi = c === last ? rB : rSum;
        let max = L === 0 && steps > 0 ? x[c] : -Infinity;
        let sum = max === -Infinity ? 0 : 1;
        for (let t = from; t < to; t++) {
          const term = phi[t - 1] + x[t * vocab + c];
          if (term > max) {
            sum = sum * Math.exp(max - term) + 1;
            max = term;
          } else if (term - max > NEGLIGIBLE) {
            sum += Math.exp(term - max);
          }
        }
        out[i] = max === -Infinity ? -Infinity : max + Math.log(sum);
      }
    }
    return out;
  }

  /** The state of prefix + c, with its score ψ(prefix + c) as `score` gave it. */
  extend(prefix: readonly number[], state: CtcPrefixState, c: number, score: number): CtcPrefixState {
    const { steps, vocab, blank } = this;
    const x = this.logProbs.data;
    const L = prefix.length;
    const last = L > 0 ? prefix[L - 1] : -1;
    const { rSum, rB: rPrevB } = this.sums(state);
    const phi = c === last ? rPrevB : rSum;
    const r = new Float64Array(2 * steps).fill(-Infinity);
    if (L === 0 && steps > 0) r[0] = x[c];
    for (let t = Math.max(L, 1); t < steps; t++) {
      r[t] = logAdd(r[t - 1], phi[t - 1]) + x[t * vocab + c];
      r[steps + t] = logAdd(r[t - 1], r[steps + t - 1]) + x[t * vocab + blank];
    }
    return { score, r };
  }

  /**
   * The frames [from, to) where φ(t − 1), the probability of having emitted exactly the prefix by
   * t − 1, is within WINDOW nats of its maximum: elsewhere every term of ψ(prefix + c) is at least
   * that far below ψ(prefix), which bounds φ. A prefix is only likely around where it ends, so
   * this keeps the pass short on long videos, and leaves every score within 1e-60 of exact except
   * for candidates whose CTC score falls more than WINDOW − ln T nats, which stay below that.
   */
  private window(rSum: Float64Array, start: number): [number, number] {
    const { steps } = this;
    let max = -Infinity;
    for (let t = start; t < steps; t++) if (rSum[t - 1] > max) max = rSum[t - 1];
    if (max === -Infinity) return [start, start];
    let from = start;
    while (rSum[from - 1] < max - WINDOW) from++;
    let to = steps;
    while (rSum[to - 2] < max - WINDOW) to--;
    return [from, to];
  }

  private sums(state: CtcPrefixState): { rSum: Float64Array; rB: Float64Array } {
    const { steps } = this;
    const rB = state.r.subarray(steps);
    const rSum = new Float64Array(steps);
    for (let t = 0; t < steps; t++) rSum[t] = logAdd(state.r[t], rB[t]);
    return { rSum, rB };
  }
}

