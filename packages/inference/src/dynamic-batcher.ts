/** (steps × vocab) scores of one clip, as `ModelSession.run` returns them. */
export interface Scores {
  data: Float32Array;
  steps: number;
  vocab: number;
}

export interface BatchItem {
  /** normalised frames, frame after frame */
  input: Float32Array;
  frames: number;
}

/**
 * How clips of different lengths may share a batch:
 * - `pad`: shorter clips are padded at the end and the padded output steps dropped. Exact only for
 *   models whose outputs at a frame do not depend on later frames beyond the clip (time-local, or
 *   causal); `probePadding` checks this on the real model at start.
 * - `equal`: only clips of exactly the same length share a batch (chunks of a long video do), which
 *   is exact for any model whose batch items do not interact.
 */
export type PaddingMode = 'pad' | 'equal';

export interface BatcherOptions {
  /** most clips per inference call; 1 runs each call on its own at once */
  maxBatch: number;
  /** how long the first waiting clip waits for others, in ms */
  windowMs: number;
  padding: PaddingMode;
  /** runs one batch; returns each item's scores, in order */
  runBatch: (items: BatchItem[]) => Promise<Scores[]>;
  /** runs one clip alone (batch size 1) */
  runOne: (input: Float32Array, frames: number) => Promise<Scores>;
  /** told the size of every inference call made */
  onBatch?: (size: number) => void;
}

/** A longer clip may be at most this much longer than the shortest one it is padded with. */
const MAX_PAD_RATIO = 1.5;

interface Pending extends BatchItem {
  resolve: (scores: Scores) => void;
  reject: (err: unknown) => void;
}

/**
 * Dynamic batching: inference calls that arrive within `windowMs` of the first waiting one (or
 * until `maxBatch` are waiting) are grouped by length and each group runs as one call. Callers see
 * the same `run(input, frames)` as a plain session, and get the same scores as at batch size 1.
 */
export class DynamicBatcher {
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: BatcherOptions) {
    if (!(options.maxBatch >= 1)) throw new Error('maxBatch must be at least 1');
  }

  run(input: Float32Array, frames: number): Promise<Scores> {
    if (this.options.maxBatch === 1) {
      this.options.onBatch?.(1);
      return this.options.runOne(input, frames);
    }
    return new Promise<Scores>((resolve, reject) => {
      this.pending.push({ input, frames, resolve, reject });
      if (this.pending.length >= this.options.maxBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.options.windowMs);
    });
  }

  /** Runs whatever is waiting now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const waiting = this.pending.splice(0, this.options.maxBatch);
    if (this.pending.length) this.timer = setTimeout(() => this.flush(), 0);
    for (const group of groupByLength(waiting, this.options.maxBatch, this.options.padding)) void this.runGroup(group);
  }

  private async runGroup(group: Pending[]): Promise<void> {
    try {
      this.options.onBatch?.(group.length);
      const scores = group.length === 1 ? [await this.options.runOne(group[0].input, group[0].frames)] : await this.options.runBatch(group);
      group.forEach((item, i) => item.resolve(scores[i]));
    } catch (err) {
      for (const item of group) item.reject(err);
    }
  }
}

/**
 * Sorts by length and cuts into groups of at most `maxBatch`: with `pad`, a group ends where a clip
 * is more than MAX_PAD_RATIO times its shortest (bounded wasted compute); with `equal`, where the
 * length changes.
 */
export function groupByLength<T extends { frames: number }>(items: T[], maxBatch: number, padding: PaddingMode): T[][] {
  const sorted = [...items].sort((a, b) => a.frames - b.frames);
  const groups: T[][] = [];
  let current: T[] = [];
  for (const item of sorted) {
    const first = current[0];
    const fits =
      first !== undefined &&
      current.length < maxBatch &&
      (padding === 'pad' ? item.frames <= first.frames * MAX_PAD_RATIO : item.frames === first.frames);
    if (!fits && current.length) {
      groups.push(current);
      current = [];
    }
    current.push(item);
  }
  if (current.length) groups.push(current);
  return groups;
}
