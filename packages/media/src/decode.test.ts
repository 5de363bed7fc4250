import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, constants, createWriteStream, openSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ErrorCode } from '@talkie/contracts';
import { resolveFfmpeg, type FfmpegBinaries } from './binaries';
import { buildVideoFilter, decodeFrames, withSourceFrameLimit, type DecodedFrames, type DecodeOptions } from './decode';
import { encodeTestVideo, rejection, withDeclaredDuration } from './media.testing';
import { probeVideo } from './probe';
import { checkProbe, DEFAULT_MEDIA_LIMITS } from './probe-policy';

/**
 * Every test decodes videos made here with the real ffmpeg, from grey frames rendered in Node and
 * encoded losslessly (FFV1), so each decoded pixel can be traced to the frame and place it came from.
 *
 * The source: 176×144 at 10 fps for 2 s (20 frames). The centred 88×88 block of frame i has the
 * value 20 + 10·i; everything around it is BORDER.
 */
const WIDTH = 176;
const HEIGHT = 144;
const SOURCE_FPS = 10;
const SOURCE_FRAMES = 20;
const BORDER = 240;
const BLOCK = { x: (WIDTH - 88) / 2, y: (HEIGHT - 88) / 2, size: 88 }; // x 44…131, y 28…115
const centreValue = (index: number) => 20 + 10 * index;
/** the source frame a decoded centre value came from */
const sourceIndex = (value: number) => Math.round((value - 20) / 10);

function renderSource(): Buffer {
  const frames = Buffer.alloc(WIDTH * HEIGHT * SOURCE_FRAMES, BORDER);
  for (let i = 0; i < SOURCE_FRAMES; i++) {
    for (let y = BLOCK.y; y < BLOCK.y + BLOCK.size; y++) {
      const row = i * WIDTH * HEIGHT + y * WIDTH;
      frames.fill(centreValue(i), row + BLOCK.x, row + BLOCK.x + BLOCK.size);
    }
  }
  return frames;
}

function encodeGray(ffmpeg: string, frames: Buffer, width: number, height: number, fps: number, out: string): void {
  execFileSync(
    ffmpeg,
    ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'gray', '-s', `${width}x${height}`, '-r', String(fps), '-i', 'pipe:0', '-c:v', 'ffv1', out],
    { input: frames },
  );
}

const frame = (d: DecodedFrames, i: number) => d.pixels.subarray(i * d.width * d.height, (i + 1) * d.width * d.height);
const pixel = (d: DecodedFrames, i: number, x: number, y: number) => frame(d, i)[y * d.width + x];


/** A FIFO that serves `data` and then stays open, like a file still being written. */
async function openEndedInput(data: Buffer): Promise<{ file: string; close: () => void }> {
  const file = path.join(dir, `fifo-${Math.random().toString(36).slice(2)}.mkv`);
  execFileSync('mkfifo', [file]);
  const writer = createWriteStream(file); // opens once ffmpeg opens the other end
  writer.on('error', () => {}); // EPIPE once ffmpeg is killed
  writer.write(data);
  // ffmpeg may have been stopped before it opened the FIFO (a short timeout on a loaded machine):
  // the writer's open then waits for a reader in a libuv thread for ever and keeps the test process
  // alive. Opening the reading end (non-blocking) lets that open return before the writer goes.
  const close = () => {
    closeSync(openSync(file, constants.O_RDONLY | constants.O_NONBLOCK));
    writer.destroy();
  };
  return { file, close };
}

let bins: FfmpegBinaries;
let dir: string;
let video: string;

beforeAll(async () => {
  bins = await resolveFfmpeg();
  dir = await mkdtemp(path.join(os.tmpdir(), 'talkie-decode-'));
  video = path.join(dir, 'source.mkv');
  encodeGray(bins.ffmpeg, renderSource(), WIDTH, HEIGHT, SOURCE_FPS, video);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const options = (overrides: Partial<DecodeOptions> = {}): DecodeOptions => ({
  ffmpeg: bins.ffmpeg,
  fps: 25,
  roi: { mode: 'center', width: 88, height: 88 },
  maxFrames: 1000,
  timeoutMs: 30_000,
  ...overrides,
});

describe('resolveFfmpeg', () => {
  it('finds the system ffmpeg 5 or later, with its ffprobe', () => {
    expect(bins.source).toBe('system');
    expect(bins.major).toBeGreaterThanOrEqual(5);
    expect(path.basename(bins.ffprobe)).toBe('ffprobe');
    expect(bins.warning).toBeUndefined();
  });

  it('refuses FFMPEG_PATH without FFPROBE_PATH', async () => {
    await expect(resolveFfmpeg({ FFMPEG_PATH: bins.ffmpeg })).rejects.toThrow('set both FFMPEG_PATH and FFPROBE_PATH');
  });

  it('takes explicit paths from the environment and reads their version', async () => {
    const fromEnv = await resolveFfmpeg({ FFMPEG_PATH: bins.ffmpeg, FFPROBE_PATH: bins.ffprobe });
    expect(fromEnv).toMatchObject({ ffmpeg: bins.ffmpeg, ffprobe: bins.ffprobe, source: 'env', major: bins.major, version: bins.version });
  });
});

describe('buildVideoFilter', () => {
  it('resamples first, then takes the ROI (exact centred crop), then turns grey', () => {
    expect(buildVideoFilter(25, { mode: 'center', width: 88, height: 88 })).toBe('fps=25,crop=88:88:(iw-88)/2:(ih-88)/2:exact=1,format=gray');
    expect(buildVideoFilter(16, { mode: 'full', width: 64, height: 48 })).toBe('fps=16,scale=64:48:flags=area,format=gray');
  });
});

describe('decodeFrames', () => {
  it('resamples 10 fps to 25 fps by timestamps: 2 s give 50 frames that repeat the sources in order', async () => {
    const decoded = await decodeFrames(video, options({ fps: 25 }));
    expect(decoded).toMatchObject({ count: 50, width: 88, height: 88, fps: 25 });
    expect(decoded.pixels).toHaveLength(50 * 88 * 88);

    const sources = Array.from({ length: decoded.count }, (_, i) => sourceIndex(pixel(decoded, i, 44, 44)));
    // each output frame k at k/25 s shows the source frame shown at that time, ±1 for rounding
    sources.forEach((s, k) => expect(Math.abs(s - Math.floor((k * SOURCE_FPS) / 25))).toBeLessThanOrEqual(1));
    for (let k = 1; k < sources.length; k++) expect(sources[k]).toBeGreaterThanOrEqual(sources[k - 1]);
    // every source frame shows up, 2 or 3 times (2.5 on average), none skipped
    const counts = new Map<number, number>();
    for (const s of sources) counts.set(s, (counts.get(s) ?? 0) + 1);
    expect([...counts.keys()]).toEqual(Array.from({ length: SOURCE_FRAMES }, (_, i) => i));
    for (const n of counts.values()) expect([2, 3]).toContain(n);
  });

  it('resamples 10 fps to 5 fps by dropping every other frame: 2 s give 10 frames', async () => {
    const decoded = await decodeFrames(video, options({ fps: 5 }));
    expect(decoded.count).toBe(10);
    const sources = Array.from({ length: decoded.count }, (_, i) => sourceIndex(pixel(decoded, i, 0, 0)));
    sources.forEach((s, k) => expect(Math.abs(s - 2 * k)).toBeLessThanOrEqual(1));
    for (let k = 1; k < sources.length; k++) expect(sources[k] - sources[k - 1]).toBe(2);
  });

  it('decodes the same frames with one decoder thread (DECODE_THREADS=1) as with ffmpeg\'s choice', async () => {
    const [own, single] = await Promise.all([decodeFrames(video, options({ fps: 25 })), decodeFrames(video, options({ fps: 25, threads: 1 }))]);
    expect(single.count).toBe(own.count);
    expect(Buffer.compare(Buffer.from(single.pixels), Buffer.from(own.pixels))).toBe(0);
  });

  it('keeps every frame when the rate already matches', async () => {
    const decoded = await decodeFrames(video, options({ fps: SOURCE_FPS }));
    expect(decoded.count).toBe(SOURCE_FRAMES);
    for (let i = 0; i < SOURCE_FRAMES; i++) expect(pixel(decoded, i, 10, 80)).toBe(centreValue(i));
  });

  it('"center" takes exactly the centred 88×88 region: no border pixel in any frame', async () => {
    const decoded = await decodeFrames(video, options({ fps: SOURCE_FPS }));
    for (let i = 0; i < decoded.count; i++) {
      const want = centreValue(i);
      const pixels = frame(decoded, i);
      const outliers = pixels.filter((p) => Math.abs(p - want) > 2).length;
      expect({ frame: i, outliers }).toEqual({ frame: i, outliers: 0 });
    }
  });

  it('"center" with a scale resizes the whole frame first, then crops its centre', async () => {
    // 176×144 → 88×72 puts the block at x 22…65; a centred 48×40 crop starts at x 20, y 16,
    // so its two outer columns on each side are border and everything else is block.
    const decoded = await decodeFrames(video, options({ fps: SOURCE_FPS, roi: { mode: 'center', width: 48, height: 40, scale: { width: 88, height: 72 } } }));
    expect(decoded).toMatchObject({ count: SOURCE_FRAMES, width: 48, height: 40 });
    for (const i of [0, 7, 19]) {
      for (let y = 0; y < 40; y++) {
        for (let x = 0; x < 48; x++) {
          const want = x < 2 || x >= 46 ? BORDER : centreValue(i);
          expect(Math.abs(pixel(decoded, i, x, y) - want)).toBeLessThanOrEqual(2);
        }
      }
    }
  });

  it('"full" scales the whole frame down to the ROI size, border included', async () => {
    // a 4× reduction maps the block (x 44…131, y 28…115) onto x 11…32, y 7…28 exactly
    const decoded = await decodeFrames(video, options({ fps: SOURCE_FPS, roi: { mode: 'full', width: 44, height: 36 } }));
    expect(decoded).toMatchObject({ count: SOURCE_FRAMES, width: 44, height: 36 });
    for (const i of [0, 12, 19]) {
      for (let y = 0; y < 36; y++) {
        for (let x = 0; x < 44; x++) {
          const inBlock = x >= 11 && x <= 32 && y >= 7 && y <= 28;
          const want = inBlock ? centreValue(i) : BORDER;
          expect({ i, x, y, near: Math.abs(pixel(decoded, i, x, y) - want) <= 2 }).toEqual({ i, x, y, near: true });
        }
      }
    }
  });

  it('reports progress as frames are decoded', async () => {
    const seen: number[] = [];
    const decoded = await decodeFrames(video, options({ fps: 25, progressEveryFrames: 10, onFrames: (n) => seen.push(n) }));
    expect(seen.length).toBeGreaterThan(0);
    for (let k = 1; k < seen.length; k++) expect(seen[k] - seen[k - 1]).toBeGreaterThanOrEqual(10);
    expect(seen[seen.length - 1]).toBeLessThanOrEqual(decoded.count);
  });

  it('accepts a video of exactly maxFrames output frames', async () => {
    expect((await decodeFrames(video, options({ fps: 25, maxFrames: 50 }))).count).toBe(50);
  });

  it('rejects with video_too_long once the output passes maxFrames', async () => {
    for (const maxFrames of [49, 10, 1]) {
      const err = await rejection(decodeFrames(video, options({ fps: 25, maxFrames })));
      expect(err.code).toBe<ErrorCode>('video_too_long');
      expect(err.retryable).toBe(false);
    }
  });

  it('rejects a file that is not a video with decode_failed', async () => {
    const text = path.join(dir, 'notes.mp4');
    await writeFile(text, 'this is a text file, not a video\n'.repeat(100));
    const err = await rejection(decodeFrames(text, options()));
    expect(err.code).toBe<ErrorCode>('decode_failed');
    expect(err.message).toBe('The video could not be decoded.'); // no path or ffmpeg output leaks to clients
  });

  it('rejects a missing file with decode_failed', async () => {
    const err = await rejection(decodeFrames(path.join(dir, 'absent.mkv'), options()));
    expect(err.code).toBe<ErrorCode>('decode_failed');
  });

  it('rejects with a retryable timeout when decoding takes longer than timeoutMs', async () => {
    const err = await rejection(decodeFrames(video, options({ timeoutMs: 1 })));
    expect(err.code).toBe<ErrorCode>('timeout');
    expect(err.retryable).toBe(true);
  });

  it('kills a decode that is still running at timeoutMs, and rejects with timeout then', async () => {
    // The input is a FIFO that is never closed: ffmpeg waits for more data forever, so only the
    // timeout's kill can end this decode.
    // One decode first, so ffmpeg is surely running by the time the timer fires (fluent-ffmpeg
    // delays the first spawn in a process by its capability checks).
    await decodeFrames(video, options());
    const input = await openEndedInput(await readFile(video));
    try {
      const started = performance.now();
      const err = await rejection(decodeFrames(input.file, options({ timeoutMs: 300 })));
      expect(err.code).toBe<ErrorCode>('timeout');
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    } finally {
      input.close();
    }
  });

  it('kills a running decode when the signal aborts, and rejects with processing_failed', async () => {
    const input = await openEndedInput(await readFile(video));
    try {
      const controller = new AbortController();
      // abort once frames are flowing, i.e. while ffmpeg is running and waiting for more input
      const decoding = decodeFrames(input.file, options({ signal: controller.signal, progressEveryFrames: 1, onFrames: () => controller.abort() }));
      const err = await rejection(decoding);
      expect(err.code).toBe<ErrorCode>('processing_failed');
      expect(err.message).toBe('Processing was aborted.');
    } finally {
      input.close();
    }
  });

  it('rejects with processing_failed when the signal is already aborted', async () => {
    const err = await rejection(decodeFrames(video, options({ signal: AbortSignal.abort() })));
    expect(err.code).toBe<ErrorCode>('processing_failed');
  });

  // Regression: an abort (or timeout) before fluent-ffmpeg had spawned ffmpeg used to be lost, and
  // the decode ran on until its input ended. On a FIFO that never ends it would hang forever.
  it('kills ffmpeg as soon as it starts when the signal aborted before the spawn', async () => {
    const input = await openEndedInput(await readFile(video));
    try {
      const err = await rejection(decodeFrames(input.file, options({ signal: AbortSignal.abort() })));
      expect(err.code).toBe<ErrorCode>('processing_failed');
    } finally {
      input.close();
    }
  }, 10_000);
});


/**
 * The decoder's own frame limit, on the frames the source gives it: resampling to the model's rate
 * means the output cap (maxFrames) cannot see them, and the probe's count can be wrong or missing
 * (a Matroska header's duration lies, no duration at all, a variable rate that rises after the
 * part the probe read). Small files at high declared rates, against a cap of 1,000.
 */
describe('maxSourceFrames (the source-frame cap)', () => {
  const CAP = 1000;
  const limits = { ...DEFAULT_MEDIA_LIMITS, maxFrames: CAP };
  /** the test videos below are 64×48: the whole frame, scaled down */
  const small = (overrides: Partial<DecodeOptions>) => options({ roi: { mode: 'full', width: 32, height: 24 }, ...overrides });
  let highRate: string;
  beforeAll(() => {
    highRate = path.join(dir, '1000fps-3s.mkv');
    encodeTestVideo(bins.ffmpeg, highRate, { fps: 1000, seconds: 3 });
  });

  it('adds a counting branch that changes no byte of the output', async () => {
    expect(withSourceFrameLimit('fps=25,format=gray', 1000)).toBe(
      'split[talkie_frames][talkie_count];[talkie_count]trim=start_frame=1000:end_frame=1001,showinfo@talkie_source_frame_limit,nullsink;[talkie_frames]fps=25,format=gray',
    );
    for (const roi of [options().roi, { mode: 'full', width: 44, height: 36 } as const]) {
      const plain = await decodeFrames(video, options({ roi }));
      const capped = await decodeFrames(video, options({ roi, maxSourceFrames: SOURCE_FRAMES }));
      expect(capped.count).toBe(plain.count);
      expect(Buffer.from(capped.pixels).equals(Buffer.from(plain.pixels))).toBe(true);
    }
  });

  it('decodes a source of exactly maxSourceFrames frames, and fails one frame more with too_many_frames', async () => {
    expect((await decodeFrames(video, options({ maxSourceFrames: SOURCE_FRAMES }))).count).toBe(50);
    const err = await rejection(decodeFrames(video, options({ maxSourceFrames: SOURCE_FRAMES - 1 })));
    expect(err.code).toBe<ErrorCode>('too_many_frames');
    expect(err.retryable).toBe(false);
    expect(err.message).toBe('The video has more frames than allowed.');
  });

  it('fails 1000 fps × 3 s (75 frames out at 25 fps, far under maxFrames) with too_many_frames, and passes it under a cap of 3,000', async () => {
    const err = await rejection(decodeFrames(highRate, small({ maxSourceFrames: CAP })));
    expect(err.code).toBe<ErrorCode>('too_many_frames');
    expect((await decodeFrames(highRate, small({ maxSourceFrames: 3000 }))).count).toBe(75);
  });

  it('stops a Matroska file whose header says 1 s of its 20 s early, though the probe passes it', async () => {
    const real = path.join(dir, '1000fps-20s.mkv');
    encodeTestVideo(bins.ffmpeg, real, { fps: 1000, seconds: 20 });
    const lying = path.join(dir, '1000fps-20s-says-1s.mkv');
    await writeFile(lying, withDeclaredDuration(await readFile(real), 1));
    const probe = await probeVideo(lying, { ffprobe: bins.ffprobe });
    expect(probe).toMatchObject({ duration_s: 1, frames: 1000 });
    expect(() => checkProbe(probe, limits)).not.toThrow();

    let most = 0;
    const err = await rejection(decodeFrames(lying, small({ maxSourceFrames: CAP, progressEveryFrames: 1, onFrames: (n) => (most = n) })));
    expect(err.code).toBe<ErrorCode>('too_many_frames');
    // killed about 1 s in: nowhere near the 500 frames of the whole 20 s at 25 fps
    expect(most).toBeLessThan(100);
  });

  it('stops a Matroska file with no duration (written through a pipe) that the probe reads as 0 frames', async () => {
    const piped = path.join(dir, '1000fps-3s-piped.mkv');
    encodeTestVideo(bins.ffmpeg, piped, { fps: 1000, seconds: 3, piped: true });
    const probe = await probeVideo(piped, { ffprobe: bins.ffprobe });
    expect(probe).toMatchObject({ duration_s: 0, frames: 0 });
    expect(() => checkProbe(probe, limits)).not.toThrow();
    expect((await rejection(decodeFrames(piped, small({ maxSourceFrames: CAP })))).code).toBe<ErrorCode>('too_many_frames');
  });

  it('stops a variable-rate file whose burst comes after the part the probe reads', async () => {
    // 50 frames 0.2 s apart (10 s), then 2,950 frames 1 ms apart: the probe sees 5 fps
    const burst = path.join(dir, 'vfr-burst.mkv');
    encodeTestVideo(bins.ffmpeg, burst, { fps: 1000, seconds: 3, setpts: 'if(lt(N,50),N*0.2,10+(N-50)*0.001)/TB' });
    const probe = await probeVideo(burst, { ffprobe: bins.ffprobe });
    expect(probe.frames).toBeLessThan(CAP);
    expect(() => checkProbe(probe, limits)).not.toThrow();
    expect((await rejection(decodeFrames(burst, small({ maxSourceFrames: CAP })))).code).toBe<ErrorCode>('too_many_frames');
  });

  it("counts a window's frames from its start, not the frames decoded from the keyframe before it", async () => {
    // one keyframe at 0: seeking to 8 s decodes 200 frames that the window then drops
    const gop = path.join(dir, '25fps-10s-one-keyframe.mp4');
    execFileSync(bins.ffmpeg, ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=s=64x48:r=25', '-t', '10', '-c:v', 'libx264', '-g', '1000', '-pix_fmt', 'yuv420p', gop]);
    const windowed = await decodeFrames(gop, small({ window: { startS: 8 }, maxSourceFrames: 50 }));
    expect(windowed.count).toBe(50);
    expect((await rejection(decodeFrames(gop, small({ window: { startS: 8 }, maxSourceFrames: 49 })))).code).toBe<ErrorCode>('too_many_frames');
  });
});

describe('warmUpFfmpeg', () => {
  /** decode.ts with a fluent-ffmpeg of its own, whose capability cache starts empty */
  const freshDecodeModule = (): typeof import('./decode') => {
    let fresh: typeof import('./decode') | undefined;
    jest.isolateModules(() => {
      fresh = require('./decode') as typeof import('./decode');
    });
    return fresh!;
  };
  /** an ffmpeg that logs each command line it is given, then runs the real one; `runs()` reads the log */
  const loggingFfmpeg = (name: string) => {
    const log = path.join(dir, `${name}.log`);
    const ffmpeg = path.join(dir, `ffmpeg-logged-${name}`);
    writeFileSync(log, '');
    writeFileSync(ffmpeg, `#!/bin/sh\necho "$*" >> '${log}'\nexec '${bins.ffmpeg}' "$@"\n`);
    chmodSync(ffmpeg, 0o755);
    return { ffmpeg, runs: () => readFileSync(log, 'utf8').trim().split('\n') };
  };

  it('asks ffmpeg for its formats and encoders at start, so that the first decode runs ffmpeg once', async () => {
    const { ffmpeg, runs } = loggingFfmpeg('warm');
    const { warmUpFfmpeg, decodeFrames: decode } = freshDecodeModule();
    await warmUpFfmpeg(ffmpeg);
    expect(runs()).toEqual(['-formats', '-encoders']);
    expect((await decode(video, options({ ffmpeg }))).count).toBe(50);
    expect(runs()).toHaveLength(3);
    expect(runs()[2]).toMatch(/-i .*source\.mkv/);
  });

  it('without it, the first decode waits for both questions first', async () => {
    const { ffmpeg, runs } = loggingFfmpeg('cold');
    await freshDecodeModule().decodeFrames(video, options({ ffmpeg }));
    expect(runs().slice(0, 2)).toEqual(['-formats', '-encoders']);
  });

  it('gives the filters the decoder\'s thread count too, so one decode keeps to one core', async () => {
    const { ffmpeg, runs } = loggingFfmpeg('threads');
    const { warmUpFfmpeg, decodeFrames: decode } = freshDecodeModule();
    await warmUpFfmpeg(ffmpeg);
    await decode(video, options({ ffmpeg, threads: 1 }));
    await decode(video, options({ ffmpeg }));
    const [one, defaults] = runs().slice(2);
    expect(one).toMatch(/ -threads 1 -filter_threads 1 -i /);
    expect(defaults).not.toMatch(/threads \d+ -i /); // decoder and filters: ffmpeg's choice
    // the rawvideo output always copies frames on one thread
    for (const run of [one, defaults]) expect(run).toMatch(/ -dn -threads 1 /);
  });

  it('rejects for a program that is not a working ffmpeg', async () => {
    await expect(freshDecodeModule().warmUpFfmpeg('/bin/false')).rejects.toThrow();
  });
});
