import { checkPasses, correctCoordinatedOmission, fmt, formatMarkdown, formatTable, median, percentile, ratio, summarize, verdictOf, type RowResult } from './report';

const row = (over: Partial<RowResult> = {}): RowResult => ({
  id: 2,
  name: 'gateway throughput',
  talkie: 'gateway: 5,000 req/s',
  baseline: 'bare express 5: 12,000 req/s',
  ratio: 5000 / 12000,
  ratioLabel: 'gateway / bare',
  target: '≥ 0.5 of bare express req/s',
  checks: [{ label: 'req/s ratio', value: 5000 / 12000, op: '>=', limit: 0.5 }],
  verdict: 'MISS',
  figures: {},
  baselineFigures: {},
  notes: [],
  seconds: 20,
  load_1m_at_start: 0.1,
  ...over,
});

describe('percentile', () => {
  it('interpolates between the closest ranks, as numpy does by default', () => {
    const xs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(xs, 0)).toBe(1);
    expect(percentile(xs, 100)).toBe(10);
    expect(percentile(xs, 50)).toBe(5.5);
    expect(percentile(xs, 90)).toBeCloseTo(9.1, 10);
    expect(percentile(xs, 99)).toBeCloseTo(9.91, 10);
  });

  it('does not depend on the order of the samples, nor change them', () => {
    const xs = [9, 1, 5, 3, 7];
    expect(percentile(xs, 50)).toBe(5);
    expect(percentile(xs, 25)).toBe(3);
    expect(xs).toEqual([9, 1, 5, 3, 7]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('gives NaN for no samples, the sample itself for one, and refuses p outside 0–100', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(percentile([42], 99)).toBe(42);
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], -1)).toThrow(RangeError);
    expect(() => percentile([1], NaN)).toThrow(RangeError);
  });

  it('summarizes a sample set', () => {
    const s = summarize([1, 2, 3, 4, 100]);
    expect(s).toMatchObject({ count: 5, p50: 3, max: 100, mean: 22 });
    expect(s.p99).toBeCloseTo(96.16, 10);
    expect(summarize([]).count).toBe(0);
    expect(summarize([]).p50).toBeNaN();
  });
});

describe('ratio and targets', () => {
  it('divides, and gives null where a side is missing or the baseline is zero', () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(1, 0)).toBeNull();
    expect(ratio(NaN, 2)).toBeNull();
    expect(ratio(1, Infinity)).toBeNull();
  });

  it('holds limits inclusively, in either direction', () => {
    expect(checkPasses({ label: 'a', value: 0.5, op: '>=', limit: 0.5 })).toBe(true);
    expect(checkPasses({ label: 'a', value: 0.49, op: '>=', limit: 0.5 })).toBe(false);
    expect(checkPasses({ label: 'b', value: 2, op: '<=', limit: 2 })).toBe(true);
    expect(checkPasses({ label: 'b', value: 2.01, op: '<=', limit: 2 })).toBe(false);
  });

  it('counts an unmeasured value as a miss, never a pass', () => {
    expect(checkPasses({ label: 'a', value: null, op: '<=', limit: 2 })).toBe(false);
    expect(checkPasses({ label: 'a', value: NaN, op: '<=', limit: 2 })).toBe(false);
  });

  it('passes a row only when every check holds', () => {
    const ok = { label: 'ok', value: 1, op: '>=', limit: 0.5 } as const;
    const bad = { label: 'bad', value: 3, op: '<=', limit: 2 } as const;
    expect(verdictOf([ok])).toBe('PASS');
    expect(verdictOf([ok, bad])).toBe('MISS');
    expect(verdictOf([])).toBe('INFO');
    expect(verdictOf([ok], 'gateway did not start')).toBe('ERROR');
  });

  it('says SKIP for a row that gave a reason not to measure, and ERROR still wins', () => {
    expect(verdictOf([], undefined, 'no Python with PyTorch')).toBe('SKIP');
    expect(verdictOf([], 'import failed', 'no Python with PyTorch')).toBe('ERROR');
  });
});

describe('table formatting', () => {
  it('rounds figures for reading', () => {
    expect(fmt(12_700.4)).toBe('12,700');
    expect(fmt(42.345)).toBe('42.3');
    expect(fmt(1.2345)).toBe('1.23');
    expect(fmt(0.12345)).toBe('0.12');
    expect(fmt(0)).toBe('0');
    expect(fmt(3.5, 'ms')).toBe('3.50 ms');
    expect(fmt(null)).toBe('n/a');
    expect(fmt(NaN)).toBe('n/a');
  });

  it('prints aligned rows with the ratio, target and result', () => {
    const text = formatTable([row(), row({ id: 8, name: 'end to end', ratio: null, verdict: 'PASS' })]);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^\| # \| row +\| Talkie +\| baseline \(same run\) +\| ratio +\| target +\| result \|$/);
    // every line has the same width: the columns line up
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
    expect(text).toContain('0.42 (gateway / bare)');
    expect(text).toContain('MISS');
    expect(text).toMatch(/\| 8 \| end to end .*\| n\/a +\|/);
  });

  it('wraps long cells inside their column, and cuts words longer than the column', () => {
    const text = formatTable([row({ talkie: `${'word '.repeat(30)}${'x'.repeat(60)}` })], { Talkie: 20 });
    const lines = text.split('\n');
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
    expect(lines.length).toBeGreaterThan(6);
    expect(text.replace(/[|\s-]/g, '')).toContain('x'.repeat(60).slice(0, 20));
  });

  it('shows an error in place of the figures', () => {
    const text = formatTable([row({ error: 'gateway did not start', verdict: 'ERROR' })]);
    expect(text).toContain('error: gateway');
    expect(text).toContain('ERROR');
  });

  it('writes Markdown with pipes escaped', () => {
    const md = formatMarkdown([row({ talkie: 'a | b' })]).split('\n');
    expect(md[0]).toBe('| # | row | Talkie | baseline (same run) | ratio | target | result |');
    expect(md[1]).toBe('|---|---|---|---|---|---|---|');
    expect(md[2]).toContain('a \\| b');
    expect(md[2].endsWith('| MISS |')).toBe(true);
  });
});

describe('coordinated-omission correction', () => {
  it('adds the requests a stalled connection could not send, each waiting less by one interval', () => {
    expect(correctCoordinatedOmission([1, 2], 5)).toEqual([1, 2]);
    expect(correctCoordinatedOmission([12], 5)).toEqual([12, 7, 2]);
    expect(correctCoordinatedOmission([10], 5)).toEqual([10, 5]);
    expect(() => correctCoordinatedOmission([1], 0)).toThrow(RangeError);
  });

  it('moves the p99 of a server that stalls, not of one that does not', () => {
    const steady = Array.from({ length: 1000 }, () => 1);
    expect(percentile(correctCoordinatedOmission(steady, 3.3), 99)).toBe(1);
    const stalled = [...steady.slice(0, 995), 300, 300, 300, 300, 300];
    expect(percentile(stalled, 99)).toBe(1);
    expect(percentile(correctCoordinatedOmission(stalled, 3.3), 99)).toBeGreaterThan(100);
  });
});
