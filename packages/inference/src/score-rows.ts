/** Helpers over rows of log-probabilities shared by the CTC and joint decoders (not public API). */

/** log(e^a + e^b) without overflow; -Infinity is log 0. */
export const logAdd = (a: number, b: number): number => {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
};

/**
 * The ids of the `k` highest values of `row`, best first, ties to the lower id, never `skipA` or
 * `skipB` (-1: none). One pass with a sorted window of k, so 5,000-token rows cost little more than
 * reading them; the two skips are plain numbers because this runs per hypothesis per step.
 */
export function topIds(row: Float32Array, k: number, skipA = -1, skipB = -1): number[] {
  const top: number[] = [];
  const vals: number[] = [];
  let floor = -Infinity;
  for (let id = 0; id < row.length; id++) {
    const v = row[id];
    if ((top.length === k && !(v > floor)) || id === skipA || id === skipB) continue;
    let at = top.length;
    while (at > 0 && vals[at - 1] < v) at--;
    top.splice(at, 0, id);
    vals.splice(at, 0, v);
    if (top.length > k) {
      top.pop();
      vals.pop();
    }
    if (top.length === k) floor = vals[k - 1];
  }
  return top;
}
