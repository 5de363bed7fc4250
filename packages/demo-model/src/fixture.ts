import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { CODES, GRID, normalizeDemoText, tokenIndex } from './alphabet';
import { CELL, INPUT_SIZE } from './letter-reader-model';

/** Timing of the rendered sentence, in seconds (the "mouth" is busy for 0.2 s per character). */
export const TIMING = { lead: 0.4, char: 0.2, gap: 0.12, tail: 0.4 } as const;

export const FRAME_WIDTH = 176;
export const FRAME_HEIGHT = 144;
const BRIGHT = 220;
const DARK = 35;

export type FixtureFormat = 'mp4' | 'webm' | 'mov' | 'mkv' | 'avi';
export const FIXTURE_FORMATS: readonly FixtureFormat[] = ['mp4', 'webm', 'mov', 'mkv', 'avi'];

export interface WordTiming {
  text: string;
  start: number;
  end: number;
}

interface Event {
  token: number;
  start: number;
  end: number;
}

export interface Timeline {
  text: string;
  events: Event[];
  words: WordTiming[];
  duration_s: number;
}

/**
 * Lays a sentence out in time: silence, then each character's code held for `char` seconds with a
 * blank `gap` after it (so repeated letters stay distinct, as CTC needs), words separated by the
 * delimiter's code, then silence.
 */
export function timeline(rawText: string): Timeline {
  const text = normalizeDemoText(rawText);
  const events: Event[] = [];
  const words: WordTiming[] = [];
  let t = TIMING.lead;
  text.split(' ').forEach((word, w) => {
    if (w > 0) {
      events.push({ token: tokenIndex(' '), start: t, end: t + TIMING.char });
      t += TIMING.char + TIMING.gap;
    }
    const start = t;
    for (const char of word) {
      events.push({ token: tokenIndex(char), start: t, end: t + TIMING.char });
      t += TIMING.char + TIMING.gap;
    }
    words.push({ text: word, start: round(start), end: round(t - TIMING.gap) });
  });
  return { text, events, words, duration_s: round(t - TIMING.gap + TIMING.tail) };
}

const round = (s: number) => Math.round(s * 1000) / 1000;

/** A small deterministic PRNG (mulberry32): the fixtures' distractor pattern, generated models' weights. */
export function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One grey frame: the token's code in the centred 88×88 region, and around it a changing pattern
 * of cell-sized blocks. Only the centre carries the text, so a wrong crop reads garbage.
 */
export function renderFrame(token: number, seed: number): Uint8Array {
  const frame = new Uint8Array(FRAME_WIDTH * FRAME_HEIGHT);
  const random = prng(seed);
  const blocksX = Math.ceil(FRAME_WIDTH / CELL);
  const blocksY = Math.ceil(FRAME_HEIGHT / CELL);
  for (let by = 0; by < blocksY; by++) {
    for (let bx = 0; bx < blocksX; bx++) {
      fill(frame, bx * CELL, by * CELL, CELL, CELL, random() < 0.5 ? BRIGHT : DARK);
    }
  }
  const x0 = (FRAME_WIDTH - INPUT_SIZE) / 2;
  const y0 = (FRAME_HEIGHT - INPUT_SIZE) / 2;
  CODES[token].forEach((bit, cell) => {
    const cx = x0 + (cell % GRID) * CELL;
    const cy = y0 + Math.floor(cell / GRID) * CELL;
    fill(frame, cx, cy, CELL, CELL, bit ? BRIGHT : DARK);
  });
  return frame;
}

function fill(frame: Uint8Array, x: number, y: number, w: number, h: number, value: number) {
  for (let row = y; row < Math.min(y + h, FRAME_HEIGHT); row++) {
    frame.fill(value, row * FRAME_WIDTH + x, row * FRAME_WIDTH + Math.min(x + w, FRAME_WIDTH));
  }
}

/** The token on screen at time `t` (blank between events), and its event's index (-1 between). */
export function tokenAt(events: Event[], t: number): { token: number; event: number } {
  for (let i = 0; i < events.length; i++) {
    if (t >= events[i].start - 1e-9 && t < events[i].end - 1e-9) return { token: events[i].token, event: i };
  }
  return { token: 0, event: -1 };
}

/** Frame `index` of a sentence rendered at `fps`: what the timeline shows at index / fps. */
export function fixtureFrame(plan: Timeline, index: number, fps: number): Uint8Array {
  const { token, event } = tokenAt(plan.events, index / fps);
  // The distractor changes with each event, not each frame: it looks like a moving face around
  // the mouth and stays cheap to encode.
  return renderFrame(token, event + 2);
}

/** ffmpeg's codec and container options per format, for anything encoding fixtures of its own. */
export const CODEC_ARGS: Readonly<Record<FixtureFormat, readonly string[]>> = {
  mp4: ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '12', '-pix_fmt', 'yuv420p', '-f', 'mp4'],
  mov: ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '12', '-pix_fmt', 'yuv420p', '-f', 'mov'],
  mkv: ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '12', '-pix_fmt', 'yuv420p', '-f', 'matroska'],
  webm: ['-c:v', 'libvpx', '-crf', '4', '-b:v', '2M', '-deadline', 'realtime', '-cpu-used', '8', '-pix_fmt', 'yuv420p', '-f', 'webm'],
  avi: ['-c:v', 'mpeg4', '-q:v', '2', '-pix_fmt', 'yuv420p', '-f', 'avi'],
};

export interface RenderOptions {
  text: string;
  out: string;
  fps?: number;
  format?: FixtureFormat;
  ffmpeg: string;
  /** extra seconds of silence appended (long-video tests) */
  padSeconds?: number;
}

export interface RenderedFixture {
  text: string;
  file: string;
  fps: number;
  format: FixtureFormat;
  frames: number;
  duration_s: number;
  words: WordTiming[];
}

export interface RawFrameEncoding {
  ffmpeg: string;
  out: string;
  pixFmt: 'gray' | 'rgb24';
  width: number;
  height: number;
  fps: number;
  frames: number;
  /** the output's codec and container options */
  codecArgs: readonly string[];
  /** frame i, `width`×`height` pixels of `pixFmt` */
  render: (index: number) => Uint8Array;
}

/**
 * Pipes frames drawn in Node into ffmpeg as raw video and encodes them to `out`, honouring
 * backpressure; a failed encode leaves no file behind and says what ffmpeg said.
 */
export async function encodeRawFrames(spec: RawFrameEncoding): Promise<void> {
  // Encoded beside the target and renamed into place when complete: test runs that render the same
  // fixture at once (parallel jest workers, two checkouts) must never upload a half-written file.
  // The temporary name keeps the extension, from which ffmpeg picks the container.
  const { dir, base, ext } = path.parse(spec.out);
  const partial = path.join(dir, `.${base}.${process.pid}.${randomBytes(4).toString('hex')}.partial${ext}`);
  const args = [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'rawvideo', '-pix_fmt', spec.pixFmt, '-s', `${spec.width}x${spec.height}`, '-r', String(spec.fps), '-i', 'pipe:0',
    ...spec.codecArgs,
    partial,
  ];
  const child = spawn(spec.ffmpeg, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? -1));
  });
  try {
    for (let i = 0; i < spec.frames; i++) {
      if (!child.stdin.write(spec.render(i))) await new Promise((r) => child.stdin.once('drain', r));
    }
    child.stdin.end();
  } catch (err) {
    child.kill('SIGKILL');
    await exited.catch(() => undefined);
    await rm(partial, { force: true });
    throw err;
  }
  const code = await exited;
  if (code !== 0) {
    await rm(partial, { force: true });
    throw new Error(`ffmpeg could not encode the fixture (exit ${code}): ${stderr.trim()}`);
  }
  await rename(partial, spec.out);
}

/**
 * Renders a sentence to a real video file with ffmpeg: frames are drawn here and piped in as raw
 * grey video, then encoded with the container's usual codec. Frame i shows what the timeline has
 * at i / fps, so the same sentence at 16, 25 or 30 fps has the same timings in seconds.
 */
export async function renderFixture(options: RenderOptions): Promise<RenderedFixture> {
  const fps = options.fps ?? 25;
  const format = options.format ?? 'mp4';
  if (!FIXTURE_FORMATS.includes(format)) throw new Error(`format must be one of ${FIXTURE_FORMATS.join(', ')}`);
  if (!(fps > 0 && fps <= 120)) throw new Error('fps must be in (0, 120]');
  const plan = timeline(options.text);
  const duration = plan.duration_s + (options.padSeconds ?? 0);
  const frames = Math.ceil(duration * fps - 1e-9);

  await encodeRawFrames({
    ffmpeg: options.ffmpeg,
    out: options.out,
    pixFmt: 'gray',
    width: FRAME_WIDTH,
    height: FRAME_HEIGHT,
    fps,
    frames,
    codecArgs: CODEC_ARGS[format],
    render: (i) => fixtureFrame(plan, i, fps),
  });
  return { text: plan.text, file: options.out, fps, format, frames, duration_s: round(frames / fps), words: plan.words };
}
