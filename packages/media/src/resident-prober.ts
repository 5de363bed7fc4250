import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { TalkieError, type VideoProbe } from '@talkie/contracts';
import { DEMUXER_ALLOW_LIST, videoProbeOf, type ProbeFields } from './probe';

/** The helper process went away (or never answered): nothing is wrong with the file. */
export class ProberUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProberUnavailableError';
  }
}

interface Answer extends Partial<ProbeFields> {
  id: number;
  error?: 'invalid_media' | 'timeout' | 'crashed' | 'busy';
  detail?: string;
}

interface Request {
  id: number;
  file: string;
  timeoutMs: number;
  resolve(probe: VideoProbe): void;
  reject(err: Error): void;
}

interface Pending extends Request {
  timer: NodeJS.Timeout;
}

export interface ResidentProberOptions {
  /** demuxers the helper's children may use (the upload allow-list by default) */
  demuxers?: readonly string[];
  /** probes running at once; more wait on the Node side until one ends (32 by default) */
  maxChildren?: number;
  /** how long the helper may take to load libavformat and say it is ready */
  startTimeoutMs?: number;
}

/** Extra time the Node side waits beyond the helper's own per-probe timer before declaring it wedged. */
const WEDGED_AFTER_MS = 2_000;
const DEFAULT_MAX_CHILDREN = 32;

/**
 * Talks to `talkie-probe` (packages/media/native/talkie-probe.c): one resident process that has
 * loaded libavformat and forks a fresh child for each probe. Answers carry the same fields as
 * `ffprobe -show_format -show_streams` and are read by the same `videoProbeOf`, so both probers
 * refuse and accept the same files for the same reasons. A file that crashes or stalls its child
 * fails like it would under ffprobe (`invalid_media`, `timeout`); the helper itself going away
 * rejects what was pending with ProberUnavailableError, for the caller to retry elsewhere.
 */
export class ResidentProber {
  /** written to the helper, each with its wedge timer */
  private readonly pending = new Map<number, Pending>();
  /**
   * Not yet written: the helper runs at most maxChildren probes and reads no more requests until
   * one ends, so a request written early would wait there with its wedge timer running, and a
   * burst of slow files would get a healthy helper killed.
   */
  private readonly waiting: Request[] = [];
  private nextId = 1;
  private closed = false;
  private gone?: Error;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    /** the ffmpeg version string of the libavformat the helper loaded, e.g. "5.1.9-0+deb12u1" */
    readonly ffmpegVersion: string,
    readonly pid: number,
    private readonly maxChildren: number,
  ) {}

  static start(binary: string, options: ResidentProberOptions = {}): Promise<ResidentProber> {
    const maxChildren = options.maxChildren ?? DEFAULT_MAX_CHILDREN;
    const args = ['--formats', (options.demuxers ?? DEMUXER_ALLOW_LIST).join(','), '--max-children', String(maxChildren)];
    const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 2_000) stderr += d;
    });
    return new Promise((resolve, reject) => {
      const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
      let prober: ResidentProber | undefined;
      const fail = (err: Error) => {
        if (prober) return prober.lose(err);
        clearTimeout(startTimer);
        child.kill('SIGKILL');
        reject(err);
      };
      const startTimer = setTimeout(() => fail(new ProberUnavailableError(`${binary} did not become ready within ${options.startTimeoutMs ?? 10_000} ms`)), options.startTimeoutMs ?? 10_000);
      child.once('error', (err) => fail(new ProberUnavailableError(`${binary} could not be started: ${err.message}`, { cause: err })));
      child.once('exit', (code, signal) => fail(new ProberUnavailableError(`${binary} exited (${signal ?? `code ${code}`})${stderr ? `: ${stderr.trim()}` : ''}`)));
      // A closed stdin (the helper gone) must not surface as an unhandled 'error'.
      child.stdin.on('error', (err) => fail(new ProberUnavailableError(`${binary} stopped reading requests`, { cause: err })));
      lines.on('line', (line) => {
        if (prober) return prober.answer(line);
        let ready: { ready?: boolean; ffmpeg?: string };
        try {
          ready = JSON.parse(line) as typeof ready;
        } catch {
          ready = {};
        }
        if (ready.ready !== true || typeof ready.ffmpeg !== 'string') return fail(new ProberUnavailableError(`${binary} did not start as expected: ${line.slice(0, 200)}`));
        clearTimeout(startTimer);
        prober = new ResidentProber(child, ready.ffmpeg, child.pid!, maxChildren);
        resolve(prober);
      });
    });
  }

  /** True while the helper runs and takes requests. */
  get available(): boolean {
    return !this.closed && !this.gone;
  }

  probe(file: string, timeoutMs = 15_000): Promise<VideoProbe> {
    if (!this.available) return Promise.reject(new ProberUnavailableError(this.gone?.message ?? 'the resident prober is closed'));
    // The request is one line; a path with a line break (the services never make one) could forge another.
    if (/[\n\r\0]/.test(file)) return Promise.reject(new TalkieError('invalid_media'));
    return new Promise<VideoProbe>((resolve, reject) => {
      this.waiting.push({ id: this.nextId++, file, timeoutMs: Math.max(1, Math.round(timeoutMs)), resolve, reject });
      this.send();
    });
  }

  /** Writes waiting requests while fewer than maxChildren are with the helper. */
  private send(): void {
    while (this.available && this.pending.size < this.maxChildren && this.waiting.length) {
      const request = this.waiting.shift()!;
      const ms = request.timeoutMs;
      const timer = setTimeout(() => {
        // The helper's own timer should have ended the child long ago: it is wedged, start over.
        this.lose(new ProberUnavailableError(`the resident prober did not answer within ${ms + WEDGED_AFTER_MS} ms`));
      }, ms + WEDGED_AFTER_MS);
      this.pending.set(request.id, { ...request, timer });
      this.child.stdin.write(`${request.id} ${ms} ${request.file}\n`);
    }
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.rejectAll(new ProberUnavailableError('the resident prober is closed'));
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill('SIGKILL');
    });
  }

  private answer(line: string): void {
    let answer: Answer;
    try {
      answer = JSON.parse(line) as Answer;
    } catch {
      return this.lose(new ProberUnavailableError(`the resident prober wrote an unreadable line: ${line.slice(0, 200)}`));
    }
    const pending = this.pending.get(answer.id);
    if (!pending) return; // e.g. an answer for a request the Node side already gave up on
    this.pending.delete(answer.id);
    clearTimeout(pending.timer);
    this.send();
    if (answer.error === 'timeout') return pending.reject(new TalkieError('timeout', { retryable: true }));
    // The helper could not start a child (fork failed): its trouble, not the file's.
    if (answer.error === 'busy') return pending.reject(new ProberUnavailableError(`talkie-probe could not start a probe (${answer.detail ?? ''})`));
    // A child that crashed on a file is what a crashing ffprobe would be: the file is unreadable.
    if (answer.error) return pending.reject(new TalkieError('invalid_media', { cause: new Error(`talkie-probe: ${answer.error} (${answer.detail ?? ''})`) }));
    try {
      pending.resolve(videoProbeOf({ ...answer, streams: answer.streams ?? 0, video_streams: answer.video_streams ?? 0 }));
    } catch (err) {
      pending.reject(err as Error);
    }
  }

  private lose(err: Error): void {
    if (this.gone || this.closed) return;
    this.gone = err;
    this.rejectAll(err);
    this.child.kill('SIGKILL');
  }

  private rejectAll(err: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(err);
    }
    for (const request of this.waiting.splice(0)) request.reject(err);
  }
}
