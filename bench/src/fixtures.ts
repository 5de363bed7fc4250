import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { renderFixture, timeline, type RenderedFixture } from '@talkie/demo-model';

const execFileAsync = promisify(execFile);

/** A fixture of exactly `seconds` (the sentence, then silence), which the demo model reads back. */
export function renderFixtureOf(ffmpeg: string, dir: string, text: string, seconds: number, name: string): Promise<RenderedFixture> {
  const pad = Math.max(0, seconds - timeline(text).duration_s);
  return renderFixture({ text, padSeconds: pad, out: path.join(dir, name), ffmpeg, fps: 25, format: 'mp4' });
}

/**
 * The preprocessing clip of the issue: 640×480 H.264 at 30 fps from ffmpeg's testsrc2, which has
 * motion and detail in every frame (a static picture would decode unrealistically fast).
 */
export async function renderTestClip(ffmpeg: string, file: string, seconds = 20, fps = 30): Promise<{ file: string; frames: number }> {
  await execFileAsync(
    ffmpeg,
    ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=640x480:rate=${fps}`, '-t', String(seconds),
      '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-f', 'mp4', file],
    { timeout: 120_000 },
  );
  return { file, frames: seconds * fps };
}

/**
 * An upload body of exactly `totalBytes`: a real MP4 (a fixture) followed by one top-level `free`
 * box that fills the rest. The file stays a valid MP4 (players and ffprobe skip `free` boxes and the
 * fixture's sample offsets do not move), so the gateway's magic-byte check, and any probe it adds,
 * pass as for a genuine large video. Produced in chunks, never held whole in memory.
 */
export interface MultipartBody {
  contentType: string;
  length: number;
  /** bytes of the file part alone */
  fileBytes: number;
  stream(): Readable;
}

const CHUNK = 256 * 1024;
const FILLER = randomBytes(CHUNK);

/** The file itself: the fixture, a `free` box header, then filler up to `totalBytes`. */
function* paddedMp4Chunks(mp4: Buffer, totalBytes: number): Generator<Buffer> {
  const padding = totalBytes - mp4.length;
  if (padding < 8) throw new Error(`an upload of ${totalBytes} bytes cannot hold the ${mp4.length}-byte fixture`);
  if (padding > 0xffffffff) throw new Error('uploads over 4 GiB need a 64-bit box size');
  const boxHeader = Buffer.alloc(8);
  boxHeader.writeUInt32BE(padding, 0);
  boxHeader.write('free', 4, 'latin1');
  yield mp4;
  yield boxHeader;
  for (let left = padding - 8; left > 0; left -= CHUNK) yield left >= CHUNK ? FILLER : FILLER.subarray(0, left);
}

export async function paddedMp4Multipart(fixtureMp4: string, totalBytes: number, field = 'video'): Promise<MultipartBody> {
  const mp4 = await readFile(fixtureMp4);
  paddedMp4Chunks(mp4, totalBytes).next(); // checks the size now rather than mid-upload
  const boundary = `----talkie-bench-${randomBytes(8).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="bench.mp4"\r\nContent-Type: video/mp4\r\n\r\n`,
    'latin1',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1');
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    length: head.length + totalBytes + tail.length,
    fileBytes: totalBytes,
    stream: () =>
      Readable.from(
        (function* () {
          yield head;
          yield* paddedMp4Chunks(mp4, totalBytes);
          yield tail;
        })(),
        { objectMode: false },
      ),
  };
}

/** Just the file bytes (no multipart framing), for the raw baseline server. */
export async function paddedMp4Raw(fixtureMp4: string, totalBytes: number): Promise<{ length: number; stream(): Readable }> {
  const mp4 = await readFile(fixtureMp4);
  paddedMp4Chunks(mp4, totalBytes).next();
  return { length: totalBytes, stream: () => Readable.from(paddedMp4Chunks(mp4, totalBytes), { objectMode: false }) };
}
