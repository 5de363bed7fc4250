/** How often a running job's progress may be written, at most. */
export const PROGRESS_EVERY_MS = 250;

/**
 * A running job's progress for pollers and the event stream: the first whole percent at once (the
 * job visibly moves), then at most one write every `everyMs`, and only when the percentage grew. A
 * 10-s clip decodes in about a tenth of a second: writing every 25 frames cost each such job ten
 * Redis scripts that no poller could ever see, on the one Redis that every worker shares. Writes
 * are advisory and never awaited; one that fails is dropped.
 */
export class ProgressReporter {
  private lastWriteAt = -Infinity;
  private written = 0;

  constructor(
    private readonly save: (progress: number) => Promise<void>,
    private readonly everyMs = PROGRESS_EVERY_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  report(progress: number): void {
    if (this.now() - this.lastWriteAt >= this.everyMs) this.saveIfGrown(progress);
  }

  /**
   * A step that pollers should see whenever it comes (decoding done, inference next), written
   * whatever the interval: once per job, and the job may stay there for seconds.
   */
  milestone(progress: number): void {
    this.saveIfGrown(progress);
  }

  private saveIfGrown(progress: number): void {
    const percent = Math.floor(progress);
    if (percent <= this.written) return;
    this.lastWriteAt = this.now();
    this.written = percent;
    this.save(percent).catch(() => undefined);
  }
}
