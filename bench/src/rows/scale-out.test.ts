import { steadyRate } from './scale-out';

describe('steadyRate', () => {
  it('counts completions per minute between the 10th and the 90th percentile completion', () => {
    // 20 completions: a slow first one (warm-up), then one every 100 ms, then a late last one
    const at = [0, 500, ...Array.from({ length: 17 }, (_, i) => 600 + i * 100), 5_000];
    // sorted[2] = 600 ms, sorted[18] = 2,200 ms: 16 completions in 1.6 s
    expect(steadyRate(at)).toBeCloseTo(600, 6);
  });

  it('does not depend on the order the completions were read in', () => {
    const at = Array.from({ length: 30 }, (_, i) => i * 50);
    expect(steadyRate([...at].reverse())).toBe(steadyRate(at));
    expect(steadyRate(at)).toBeCloseTo(1_200, 6);
  });

  it('is NaN, not Infinity, when the window has no length', () => {
    expect(steadyRate([7, 7, 7])).toBeNaN();
  });
});
