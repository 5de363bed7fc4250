import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TalkieError } from '@talkie/contracts';
import { resolveFfmpeg, type FfmpegBinaries } from './binaries';
import { boundedFrameSize, streamRgbFrames } from './decode';

/**
 * streamRgbFrames on real ffmpeg: a lossless RGB source (FFV1, gbrp) whose frame i is filled with a
 * colour computed from i, so every decoded frame can be traced to its source frame.
 */
const W = 64;
const H = 48;
const FRAMES = 30;
const colour = (i: number) => [(i * 8) % 256, 255 - ((i * 5) % 256), (i * 13) % 256];

let tmp: string;
let bins: FfmpegBinaries;
let source: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'talkie-rgb-'));
  bins = await resolveFfmpeg();
  const frames = Buffer.alloc(W * H * 3 * FRAMES);
  for (let i = 0; i < FRAMES; i++) {
    const [r, g, b] = colour(i);
    for (let p = 0; p < W * H; p++) frames.set([r, g, b], (i * W * H + p) * 3);
  }
  source = path.join(tmp, 'colours.mkv');
  execFileSync(bins.ffmpeg, ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${W}x${H}`, '-r', '25', '-i', 'pipe:0', '-c:v', 'ffv1', '-pix_fmt', 'gbrp', source], { input: frames });
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const options = (extra: object = {}) => ({ ffmpeg: bins.ffmpeg, fps: 25, width: W, height: H, maxFrames: 1000, timeoutMs: 30_000, ...extra });

describe('streamRgbFrames', () => {
  it('hands over every frame in order, exact, to a consumer that awaits between frames', async () => {
    const seen: number[][] = [];
    const count = await streamRgbFrames(source, options(), async (rgb, index) => {
      expect(rgb.length).toBe(W * H * 3);
      expect(index).toBe(seen.length);
      seen.push([rgb[0], rgb[1], rgb[2], rgb[rgb.length - 3], rgb[rgb.length - 2], rgb[rgb.length - 1]]);
      // a slow consumer: the stream must wait for it and lose nothing
      await new Promise((r) => setImmediate(r));
    });
    expect(count).toBe(FRAMES);
    expect(seen).toEqual(Array.from({ length: FRAMES }, (_, i) => [...colour(i), ...colour(i)]));
  });

  it('resamples to the requested frame rate by timestamps', async () => {
    let frames = 0;
    const count = await streamRgbFrames(source, options({ fps: 10 }), () => void frames++);
    expect(count).toBe(12); // 1.2 s at 10 fps
    expect(frames).toBe(12);
  });

  it("rejects with the consumer's error and stops ffmpeg", async () => {
    const error = await streamRgbFrames(source, options(), (_rgb, index) => {
      if (index === 3) throw new TalkieError('no_face_detected');
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TalkieError);
    expect((error as TalkieError).code).toBe('no_face_detected');
  });

  it('rejects with video_too_long past maxFrames', async () => {
    await expect(streamRgbFrames(source, options({ maxFrames: 5 }), () => undefined)).rejects.toMatchObject({ code: 'video_too_long' });
  });

  it('rejects with too_many_frames past maxSourceFrames (the mouth tracker\'s decode), and hands over the same frames at it', async () => {
    await expect(streamRgbFrames(source, options({ maxSourceFrames: FRAMES - 1 }), () => undefined)).rejects.toMatchObject({ code: 'too_many_frames' });
    const frames = async (extra: object) => {
      const seen: Buffer[] = [];
      await streamRgbFrames(source, options({ fps: 10, width: 32, height: 32, ...extra }), (rgb) => void seen.push(Buffer.from(rgb)));
      return Buffer.concat(seen);
    };
    // letterboxed and resampled: the counting branch changes none of it
    expect((await frames({ maxSourceFrames: FRAMES })).equals(await frames({}))).toBe(true);
  });

  it('reads MPEG-PS (.mpg, on the allow-list), and refuses demuxers outside it unless asked for (MPEG-TS)', async () => {
    const mpg = path.join(tmp, 'clip.mpg');
    execFileSync(bins.ffmpeg, ['-v', 'error', '-y', '-i', source, '-c:v', 'mpeg1video', '-q:v', '2', '-f', 'mpeg', mpg]);
    await expect(streamRgbFrames(mpg, options(), () => undefined)).resolves.toBe(FRAMES);
    const ts = path.join(tmp, 'clip.ts');
    execFileSync(bins.ffmpeg, ['-v', 'error', '-y', '-i', source, '-c:v', 'mpeg2video', '-q:v', '2', '-f', 'mpegts', ts]);
    await expect(streamRgbFrames(ts, options(), () => undefined)).rejects.toMatchObject({ code: 'decode_failed' });
    await expect(streamRgbFrames(ts, options({ demuxers: ['mpegts'] }), () => undefined)).resolves.toBe(FRAMES);
  });
});

describe('boundedFrameSize', () => {
  it('keeps the aspect ratio under the longest side, in even numbers, and never enlarges', () => {
    expect(boundedFrameSize(1920, 1080, 480)).toEqual({ width: 480, height: 270 });
    expect(boundedFrameSize(360, 288, 480)).toEqual({ width: 360, height: 288 });
    expect(boundedFrameSize(1080, 1920, 480)).toEqual({ width: 270, height: 480 });
    expect(boundedFrameSize(641, 481, 640)).toEqual({ width: 640, height: 480 });
  });
});

describe('streamRgbFrames into a box of another shape', () => {
  it('letterboxes the picture instead of squashing it', async () => {
    // the 64×48 source into 64×64: 8 black rows above and below the picture
    const rows: number[] = [];
    await streamRgbFrames(source, options({ width: 64, height: 64 }), (rgb, index) => {
      if (index !== 5) return;
      for (let y = 0; y < 64; y++) rows.push(rgb[(y * 64 + 32) * 3 + 1]);
    });
    const [, g] = colour(5);
    expect(rows.slice(0, 8)).toEqual(new Array(8).fill(0));
    expect(rows.slice(56)).toEqual(new Array(8).fill(0));
    expect(rows.slice(8, 56)).toEqual(new Array(48).fill(g));
  });
});
