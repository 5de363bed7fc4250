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
