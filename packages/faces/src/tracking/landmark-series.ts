/**
 * Per-frame landmark series: gaps (frames without a face) filled by interpolation, then temporal
 * smoothing. A series is one Float32Array of points (x0, y0, x1, y1, …) per frame, or null.
 */

/**
 * Fills frames without landmarks: linearly between the nearest frames that have them, and by
 * holding the first or last known landmarks before the first and after the last. Returns null when
 * no frame has any.
 */
export function fillGaps(series: readonly (Float32Array | null)[]): Float32Array[] | null {
  const known = series.map((p, i) => (p ? i : -1)).filter((i) => i >= 0);
  if (known.length === 0) return null;
  const out: Float32Array[] = new Array(series.length);
  for (let i = 0; i < known[0]; i++) out[i] = series[known[0]]!;
  for (let k = 0; k < known.length; k++) {
    const a = known[k];
    out[a] = series[a]!;
    const b = known[k + 1];
    if (b === undefined) {
      for (let i = a + 1; i < series.length; i++) out[i] = series[a]!;
      break;
    }
    const pa = series[a]!;
    const pb = series[b]!;
    for (let i = a + 1; i < b; i++) {
      const t = (i - a) / (b - a);
      const p = new Float32Array(pa.length);
      for (let j = 0; j < p.length; j++) p[j] = pa[j] + (pb[j] - pa[j]) * t;
      out[i] = p;
    }
  }
  return out;
}

/**
 * Centred moving average over `2·radius + 1` frames. Near the ends the window shrinks symmetrically
 * (radius = distance to the end), so steady motion is reproduced exactly instead of lagging there.
 */
export function smoothSeries(series: readonly Float32Array[], radius: number): Float32Array[] {
  if (radius <= 0 || series.length === 0) return series.map((p) => Float32Array.from(p));
  const n = series.length;
  const size = series[0].length;
  // prefix sums make each window O(points), whatever its length
  const prefix = new Float64Array((n + 1) * size);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < size; j++) prefix[(i + 1) * size + j] = prefix[i * size + j] + series[i][j];
  }
  return series.map((_, i) => {
    const r = Math.min(radius, i, n - 1 - i);
    const lo = i - r;
    const hi = i + r + 1;
    const p = new Float32Array(size);
    for (let j = 0; j < size; j++) p[j] = (prefix[hi * size + j] - prefix[lo * size + j]) / (hi - lo);
    return p;
  });
}
