import { logAdd, topIds } from './score-rows';

/**
 * CTC decoding over a (T × V) matrix of log-probabilities, stored row-major in a Float32Array.
 * Decoders return label sequences; timings come from `forcedAlign`, so greedy and beam results are
 * timed the same way.
 */

export interface LogProbs {
  data: Float32Array;
  /** time steps */
  steps: number;
  /** vocabulary size, blank included */
  vocab: number;
}

/** In-place log-softmax of each row, for models that output raw logits. */
export function logSoftmaxRows(m: LogProbs): LogProbs {
  const { data, steps, vocab } = m;
  for (let t = 0; t < steps; t++) {
    const row = t * vocab;
    let max = -Infinity;
    for (let v = 0; v < vocab; v++) if (data[row + v] > max) max = data[row + v];
    let sum = 0;
    for (let v = 0; v < vocab; v++) sum += Math.exp(data[row + v] - max);
    const logZ = max + Math.log(sum);
    for (let v = 0; v < vocab; v++) data[row + v] -= logZ;
  }
  return m;
}

/** Best token per frame, repeats merged, blanks dropped. */
export function greedyDecode(m: LogProbs, blank: number): number[] {
  const labels: number[] = [];
  let previous = -1;
  for (let t = 0; t < m.steps; t++) {
    const row = t * m.vocab;
    let best = 0;
    for (let v = 1; v < m.vocab; v++) if (m.data[row + v] > m.data[row + best]) best = v;
    if (best !== previous && best !== blank) labels.push(best);
    previous = best;
  }
  return labels;
}

interface Beam {
  /** the prefix: a node of the search's PrefixTrie */
  node: number;
  /** log P(prefix, ending in blank) */
  pBlank: number;
  /** log P(prefix, ending in its last label) */
  pLabel: number;
}

const total = (b: Beam) => logAdd(b.pBlank, b.pLabel);

/**
 * Every prefix the search has reached, as a tree: a prefix is a node number, extending it by a
 * label is one map lookup, and its labels are read back only for the winner. Keying beams by
 * `labels.join(',')` cost a string and an array per candidate per frame: for a 10-s clip that was
 * most of the decoding time and a good share of the inference thread's garbage collection.
 */
class PrefixTrie {
  private readonly parents: number[] = [-1];
  private readonly labels: number[] = [-1];
  /** child node by `node * vocab + label` */
  private readonly children = new Map<number, number>();
  static readonly ROOT = 0;

  constructor(private readonly vocab: number) {}

  child(node: number, label: number): number {
    const key = node * this.vocab + label;
    let child = this.children.get(key);
    if (child === undefined) {
      child = this.parents.length;
      this.parents.push(node);
      this.labels.push(label);
      this.children.set(key, child);
    }
    return child;
  }

  /** the prefix's last label, -1 for the empty prefix */
  last(node: number): number {
    return this.labels[node];
  }

  spell(node: number): number[] {
    const out: number[] = [];
    for (let n = node; n !== PrefixTrie.ROOT; n = this.parents[n]) out.push(this.labels[n]);
    return out.reverse();
  }
}

/** A hypothesis of a search: its labels and the search's own total log score for them. */
export interface ScoredLabels {
  labels: number[];
  score: number;
}

/**
 * CTC prefix beam search (Hannun et al., 2014) without a language model. Per frame only the
 * `beamWidth` most likely labels (and blank) are expanded, which keeps large vocabularies (5,000
 * SentencePiece units) tractable without changing the result in practice.
 */
export function prefixBeamSearch(m: LogProbs, blank: number, beamWidth: number): number[] {
  return prefixBeamSearchNBest(m, blank, beamWidth)[0]?.labels ?? [];
}

/**
 * The same search's final beam (issue 17): every hypothesis still in it, best first, each scored
 * log P(labels | video) summed over the paths the search kept. The first is `prefixBeamSearch`'s.
 */
export function prefixBeamSearchNBest(m: LogProbs, blank: number, beamWidth: number): ScoredLabels[] {
  const { data, steps, vocab } = m;
  const trie = new PrefixTrie(vocab);
  let beams: Beam[] = [{ node: PrefixTrie.ROOT, pBlank: 0, pLabel: -Infinity }];
  const candidates = Math.min(vocab, beamWidth + 1);

  for (let t = 0; t < steps; t++) {
    const row = t * vocab;
    const top = topLabels(data, row, vocab, candidates);
    // insertion order matters: equal totals keep it through the stable sort below
    const next = new Map<number, Beam>();
    const entry = (node: number): Beam => {
      let beam = next.get(node);
      if (!beam) {
        beam = { node, pBlank: -Infinity, pLabel: -Infinity };
        next.set(node, beam);
      }
      return beam;
    };

    for (const beam of beams) {
      const pAll = total(beam);
      const last = trie.last(beam.node);
      for (const v of top) {
        const p = data[row + v];
        if (v === blank) {
          const same = entry(beam.node);
          same.pBlank = logAdd(same.pBlank, pAll + p);
          continue;
        }
        const extended = entry(trie.child(beam.node, v));
        if (v === last) {
          // A repeat extends the prefix only across a blank; without one it collapses into it.
          extended.pLabel = logAdd(extended.pLabel, beam.pBlank + p);
          const same = entry(beam.node);
          same.pLabel = logAdd(same.pLabel, beam.pLabel + p);
        } else {
          extended.pLabel = logAdd(extended.pLabel, pAll + p);
        }
      }
    }
    beams = [...next.values()]
      .map((beam) => ({ beam, score: total(beam) }))
      .sort((a, b) => b.score - a.score)
      .slice(0, beamWidth)
      .map((scored) => scored.beam);
  }
  // Stable, so equal totals keep the order in which the first of them was the winner.
  return beams
    .map((beam) => ({ beam, score: total(beam) }))
    .sort((a, b) => b.score - a.score)
    .map(({ beam, score }) => ({ labels: trie.spell(beam.node), score }));
}

/** Greedy decoding's own score: the log-probability of its frame path, the best of every frame. */
export function bestPathScore(m: LogProbs): number {
  let sum = 0;
  for (let t = 0; t < m.steps; t++) {
    let best = -Infinity;
    for (let v = 0; v < m.vocab; v++) if (m.data[t * m.vocab + v] > best) best = m.data[t * m.vocab + v];
    sum += best;
  }
  return sum;
}

function topLabels(data: Float32Array, row: number, vocab: number, k: number): number[] {
  if (k >= vocab) return Array.from({ length: vocab }, (_, v) => v);
  return topIds(data.subarray(row, row + vocab), k);
}

/** The frames (inclusive) over which one label of a decoded sequence was emitted. */
export interface LabelSpan {
  label: number;
  start: number;
  end: number;
  /** the model's score for this label, 0–1 (see `spanConfidences`) */
  confidence?: number;
}

/**
 * Issue 17: each aligned label's confidence, the mean of its frames' probabilities on the aligned
 * path (exp of the log-probability of the label at each frame of its span). The mean rather than
 * the minimum: a label held over several frames is shared with blank or its neighbour at the edges
 * of its span, which says nothing about whether it was read right, and the minimum would be that
 * edge; models trained with CTC mostly spike on one frame, where the two agree anyway.
 */
export function spanConfidences(m: LogProbs, spans: LabelSpan[]): LabelSpan[] {
  return spans.map((span) => {
    let sum = 0;
    for (let t = span.start; t <= span.end; t++) sum += Math.exp(m.data[t * m.vocab + span.label]);
    return { ...span, confidence: clamp01(sum / (span.end - span.start + 1)) };
  });
}

const clamp01 = (x: number) => (x > 1 ? 1 : x < 0 || Number.isNaN(x) ? 0 : x);

/**
 * Viterbi forced alignment of `labels` to the frames: the single most likely CTC path that spells
 * exactly `labels`, reported as the frame span of each label. This is where segment timings come from.
 */
export function forcedAlign(m: LogProbs, labels: number[], blank: number): LabelSpan[] {
  const { data, steps, vocab } = m;
  if (labels.length === 0) return [];
  // Extended sequence: blank, l1, blank, l2, …, blank
  const ext: number[] = [blank];
  for (const l of labels) ext.push(l, blank);
  const S = ext.length;
  if (steps === 0) return [];
  const score = new Float64Array(S).fill(-Infinity);
  const back = new Int32Array(steps * S); // predecessor state for each (t, s)
  score[0] = data[ext[0]];
  if (S > 1) score[1] = data[ext[1]];
  for (let t = 1; t < steps; t++) {
    const row = t * vocab;
    const prev = Float64Array.from(score);
    for (let s = 0; s < S; s++) {
      let best = prev[s];
      let from = s;
      if (s >= 1 && prev[s - 1] > best) {
        best = prev[s - 1];
        from = s - 1;
      }
      if (s >= 2 && ext[s] !== blank && ext[s] !== ext[s - 2] && prev[s - 2] > best) {
        best = prev[s - 2];
        from = s - 2;
      }
      score[s] = best + data[row + ext[s]];
      back[t * S + s] = from;
    }
  }
  let s = S > 1 && score[S - 2] > score[S - 1] ? S - 2 : S - 1;
  if (score[s] === -Infinity) return []; // the labels cannot fit into this many frames
  const stateAt = new Int32Array(steps);
  for (let t = steps - 1; t >= 0; t--) {
    stateAt[t] = s;
    if (t > 0) s = back[t * S + s];
  }
  const spans: LabelSpan[] = [];
  for (let t = 0; t < steps; t++) {
    const state = stateAt[t];
    if (state % 2 === 0) continue; // blank
    const index = (state - 1) / 2;
    const span = spans[index];
    if (span) span.end = t;
    else spans[index] = { label: labels[index], start: t, end: t };
  }
  return spans;
}
