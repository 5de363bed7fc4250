import type { LogProbs } from './ctc';

/** Log-probability rows from probability rows; each row must sum to 1 (a test's own mistake otherwise). */
export function fromProbs(rows: number[][]): LogProbs {
  const vocab = rows[0].length;
  const data = new Float32Array(rows.length * vocab);
  rows.forEach((row, t) => {
    const sum = row.reduce((a, b) => a + b, 0);
    if (Math.abs(sum - 1) > 1e-9) throw new Error(`row ${t} sums to ${sum}`);
    row.forEach((p, v) => (data[t * vocab + v] = Math.log(p)));
  });
  return { data, steps: rows.length, vocab };
}

/** Rows that put `peak` on one label per frame and share the rest evenly. */
export function peaked(best: number[], vocab: number, peak = 0.9): LogProbs {
  return fromProbs(best.map((b) => Array.from({ length: vocab }, (_, v) => (v === b ? peak : (1 - peak) / (vocab - 1)))));
}

/** Deterministic pseudo-random probability rows (mulberry32), no label below ~0.05 before normalising. */
export function randomProbs(steps: number, vocab: number, seed: number): LogProbs {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return fromProbs(
    Array.from({ length: steps }, () => {
      const raw = Array.from({ length: vocab }, () => 0.05 + rand());
      const sum = raw.reduce((x, y) => x + y, 0);
      return raw.map((x) => x / sum);
    }),
  );
}

/** One frame-level path through a (T × V) matrix: a label per frame. */
export interface FramePath {
  path: number[];
  logp: number;
  /** its CTC collapse: repeats merged, then blanks dropped */
  labels: number[];
}

/**
 * Every frame-level path of `m`, each with its own arrays: the ground truth CTC decoders are
 * checked against. There are vocab^steps of them, so keep `m` tiny.
 */
export function* framePaths(m: LogProbs, blank: number): Generator<FramePath> {
  const total = m.vocab ** m.steps;
  for (let n = 0; n < total; n++) {
    let x = n;
    let logp = 0;
    const path: number[] = [];
    const labels: number[] = [];
    let previous = -1;
    for (let t = 0; t < m.steps; t++) {
      const v = x % m.vocab;
      x = Math.floor(x / m.vocab);
      path.push(v);
      logp += m.data[t * m.vocab + v];
      if (v !== blank && v !== previous) labels.push(v);
      previous = v;
    }
    yield { path, logp, labels };
  }
}

/** Every labelling with its total probability (the sum over its frame paths), most probable first. */
export function labellingProbs(m: LogProbs, blank: number): Array<{ labels: number[]; p: number }> {
  const totals = new Map<string, { labels: number[]; p: number }>();
  for (const { logp, labels } of framePaths(m, blank)) {
    const key = labels.join(',');
    const entry = totals.get(key);
    if (entry) entry.p += Math.exp(logp);
    else totals.set(key, { labels, p: Math.exp(logp) });
  }
  return [...totals.values()].sort((a, b) => b.p - a.p);
}
