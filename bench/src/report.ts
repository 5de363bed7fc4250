/**
 * The pure half of the benchmark: statistics, targets and the printed table. Nothing here touches
 * a process, a socket or a clock, so it is unit-tested (report.test.ts) and the rows stay honest.
 */

/** Linear interpolation between the closest ranks (numpy's default); NaN for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${p}`);
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

export const median = (samples: readonly number[]): number => percentile(samples, 50);

/** `a / b`, or null when either side is not a usable number (a missing or zero baseline). */
export function ratio(a: number, b: number): number | null {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}

/**
 * Coordinated-omission correction (HdrHistogram's `recordValueWithExpectedInterval`): a client meant
 * to send one request every `intervalMs` on a connection that was stuck for L ms could not send the
 * requests due meanwhile; they would have waited L − interval, L − 2·interval, … Adding those makes a
 * server that stalls its event loop look as slow as its users find it, instead of hiding the stall
 * behind the one request that saw it.
 */
export function correctCoordinatedOmission(samples: readonly number[], intervalMs: number): number[] {
  if (!(intervalMs > 0)) throw new RangeError('intervalMs must be positive');
  const out: number[] = [];
  for (const latency of samples) {
    out.push(latency);
    for (let missed = latency - intervalMs; missed > 0; missed -= intervalMs) out.push(missed);
  }
  return out;
}

export interface Summary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(samples: readonly number[]): Summary {
  const count = samples.length;
  return {
    count,
    p50: percentile(samples, 50),
    p90: percentile(samples, 90),
    p99: percentile(samples, 99),
    max: count ? Math.max(...samples) : NaN,
    mean: count ? samples.reduce((s, x) => s + x, 0) / count : NaN,
  };
}

/** One condition of a row's target, e.g. "p99 busy/idle ≤ 2.0". */
export interface Check {
  label: string;
  value: number | null;
  op: '<=' | '>=';
  limit: number;
}

export type Verdict = 'PASS' | 'MISS' | 'INFO' | 'SKIP' | 'ERROR';

export function checkPasses(check: Check): boolean {
  if (check.value === null || !Number.isFinite(check.value)) return false;
  return check.op === '<=' ? check.value <= check.limit : check.value >= check.limit;
}

/**
 * PASS when every check holds, MISS when one fails (an unmeasured value fails), INFO with no checks;
 * SKIP when the row said why it could not measure here (e.g. no PyTorch), ERROR when it failed.
 */
export function verdictOf(checks: readonly Check[], error?: string, skipped?: string): Verdict {
  if (error) return 'ERROR';
  if (skipped) return 'SKIP';
  if (checks.length === 0) return 'INFO';
  return checks.every(checkPasses) ? 'PASS' : 'MISS';
}

export interface RowResult {
  id: number;
  name: string;
  /** what Talkie measured, in words with numbers */
  talkie: string;
  /** what the baseline measured in the same run */
  baseline: string;
  /** the headline ratio and what it is a ratio of */
  ratio: number | null;
  ratioLabel: string;
  /** the target, in words */
  target: string;
  checks: Check[];
  verdict: Verdict;
  figures: Record<string, unknown>;
  baselineFigures: Record<string, unknown>;
  notes: string[];
  error?: string;
  seconds: number;
  /** the machine's 1-minute load average when the row started: other work skews every figure */
  load_1m_at_start: number;
}

/** Rounds for display: 3 significant digits below 100, whole numbers above. */
export function fmt(value: number | null | undefined, unit = ''): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  let text: string;
  if (abs >= 100) text = Math.round(value).toLocaleString('en-US');
  else if (abs >= 10) text = value.toFixed(1);
  else if (abs >= 1) text = value.toFixed(2);
  else if (abs === 0) text = '0';
  else text = value.toPrecision(2);
  return unit ? `${text} ${unit}` : text;
}

export const TABLE_HEADERS = ['#', 'row', 'Talkie', 'baseline (same run)', 'ratio', 'target', 'result'] as const;

function cells(row: RowResult): string[] {
  const ratioText = row.ratio === null ? 'n/a' : `${fmt(row.ratio)} (${row.ratioLabel})`;
  return [String(row.id), row.name, row.error ? `error: ${row.error}` : row.talkie, row.baseline, ratioText, row.target, row.verdict];
}

/** A fixed-width text table for the terminal; long cells wrap inside their column. */
export function formatTable(rows: readonly RowResult[], maxWidth: Partial<Record<(typeof TABLE_HEADERS)[number], number>> = {}): string {
  const limits = { '#': 2, row: 16, Talkie: 44, 'baseline (same run)': 36, ratio: 24, target: 24, result: 6, ...maxWidth };
  const data = rows.map(cells);
  const widths = TABLE_HEADERS.map((h, i) => Math.min(limits[h], Math.max(h.length, ...data.map((r) => r[i].length))));
  const wrap = (text: string, width: number): string[] => {
    const lines: string[] = [];
    let line = '';
    for (const word of text.split(/\s+/).filter(Boolean)) {
      let rest = word;
      while (rest.length > width) {
        if (line) {
          lines.push(line);
          line = '';
        }
        lines.push(rest.slice(0, width));
        rest = rest.slice(width);
      }
      if (!line) line = rest;
      else if (line.length + 1 + rest.length <= width) line += ` ${rest}`;
      else {
        lines.push(line);
        line = rest;
      }
    }
    if (line || lines.length === 0) lines.push(line);
    return lines;
  };
  const render = (row: readonly string[]) => {
    const wrapped = row.map((c, i) => wrap(c, widths[i]));
    const height = Math.max(...wrapped.map((w) => w.length));
    const out: string[] = [];
    for (let l = 0; l < height; l++) out.push(`| ${wrapped.map((w, i) => (w[l] ?? '').padEnd(widths[i])).join(' | ')} |`);
    return out.join('\n');
  };
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [render(TABLE_HEADERS), rule, ...data.map((r) => `${render(r)}\n${rule}`)].join('\n');
}

/** The same table as Markdown (docs/performance.md); pipes inside cells are escaped. */
export function formatMarkdown(rows: readonly RowResult[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [`| ${TABLE_HEADERS.join(' | ')} |`, `|${TABLE_HEADERS.map(() => '---').join('|')}|`];
  for (const row of rows) lines.push(`| ${cells(row).map(esc).join(' | ')} |`);
  return lines.join('\n');
}
