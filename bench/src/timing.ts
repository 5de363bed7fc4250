import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Wall-clock seconds `work` took, and what it gave. */
export async function timed<T>(work: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const started = performance.now();
  const value = await work();
  return { seconds: (performance.now() - started) / 1000, value };
}

/**
 * ffmpeg decoding `file` to nothing (`-f null`), the baseline of the rows that decode: what
 * decoding alone costs, with `threads` decoder threads (ffmpeg's default when unset) and an
 * optional filter (`-vf`) applied as the row's own decode applies it.
 */
export function ffmpegNull(ffmpeg: string, file: string, options: { threads?: number; filter?: string } = {}): Promise<unknown> {
  const { threads, filter } = options;
  return execFileAsync(
    ffmpeg,
    ['-hide_banner', '-nostdin', '-loglevel', 'error', ...(threads ? ['-threads', String(threads)] : []), '-i', file, ...(filter ? ['-vf', filter] : []), '-f', 'null', '-'],
    { timeout: 120_000 },
  );
}
