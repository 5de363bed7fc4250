import { CELL, CODEC_ARGS, CODES, encodeRawFrames, GRID, INPUT_SIZE, prng, timeline, tokenAt, type WordTiming } from '@talkie/demo-model';
import { LIPS_RGB, RING_RADIUS, RING_THICKNESS } from './ring-face-model';

/** A larger colour frame than the demo fixtures', so the mouth has room to travel. */
export const MOVING_WIDTH = 384;
export const MOVING_HEIGHT = 288;
const BRIGHT = 220;
const DARK = 35;
const SKIN = [200, 160, 130] as const;
const FACE_RADIUS = RING_RADIUS + RING_THICKNESS / 2 + 12;

export interface MovingMouthOptions {
  text: string;
  out: string;
  ffmpeg: string;
  fps?: number;
  /** frames [from, to) drawn without the lips ring (a face the tracker loses for a moment) */
  occlude?: { from: number; to: number };
  /** draw no face at all (only the background) */
  noFace?: boolean;
}

export interface MovingMouthFixture {
  text: string;
  file: string;
  fps: number;
  frames: number;
  width: number;
  height: number;
  /** the mouth centre in each frame, continuous pixel coordinates */
  centres: Array<[number, number]>;
  /** each word's start and end in seconds, as the demo fixtures' */
  words: WordTiming[];
}

/**
 * The mouth centre at time `t` of `duration`: left to right across the frame on a wave, so it
 * passes the frame's centre only once, in the middle. Whole pixels, so the pattern is drawn sharp.
 */
export function mouthPath(t: number, duration: number): [number, number] {
  const s = duration > 0 ? t / duration : 0;
  const cx = Math.round(100 + (MOVING_WIDTH - 200) * s);
  const cy = Math.round(MOVING_HEIGHT / 2 + 40 * Math.sin(2 * Math.PI * s));
  return [cx, cy];
}

/**
 * One RGB frame: a grey block pattern that changes with each event (as the demo fixtures'), a skin
 * disc, the lips ring and, inside it, the demo model's 88×88 code for `token` centred on (cx, cy).
 */
export function renderMovingFrame(token: number, seed: number, centre: [number, number], options: { ring: boolean; face: boolean }): Uint8Array {
  const W = MOVING_WIDTH;
  const H = MOVING_HEIGHT;
  const frame = new Uint8Array(W * H * 3);
  const random = prng(seed);
  for (let by = 0; by < Math.ceil(H / CELL); by++) {
    for (let bx = 0; bx < Math.ceil(W / CELL); bx++) {
      const v = random() < 0.5 ? BRIGHT : DARK;
      fillRect(frame, bx * CELL, by * CELL, CELL, CELL, [v, v, v]);
    }
  }
  if (!options.face) return frame;
  const [cx, cy] = centre;
  const inner = RING_RADIUS - RING_THICKNESS / 2;
  const outer = RING_RADIUS + RING_THICKNESS / 2;
  for (let y = Math.max(0, Math.floor(cy - FACE_RADIUS)); y < Math.min(H, Math.ceil(cy + FACE_RADIUS)); y++) {
    for (let x = Math.max(0, Math.floor(cx - FACE_RADIUS)); x < Math.min(W, Math.ceil(cx + FACE_RADIUS)); x++) {
      const d = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
      if (d > FACE_RADIUS) continue;
      const colour = options.ring && d >= inner && d <= outer ? LIPS_RGB : SKIN;
      const o = (y * W + x) * 3;
      frame[o] = colour[0];
      frame[o + 1] = colour[1];
      frame[o + 2] = colour[2];
    }
  }
  const x0 = cx - INPUT_SIZE / 2;
  const y0 = cy - INPUT_SIZE / 2;
  CODES[token].forEach((bit, cell) => {
    const v = bit ? BRIGHT : DARK;
    fillRect(frame, x0 + (cell % GRID) * CELL, y0 + Math.floor(cell / GRID) * CELL, CELL, CELL, [v, v, v]);
  });
  return frame;
}

function fillRect(frame: Uint8Array, x: number, y: number, w: number, h: number, rgb: readonly number[]) {
  for (let row = Math.max(0, y); row < Math.min(y + h, MOVING_HEIGHT); row++) {
    for (let col = Math.max(0, x); col < Math.min(x + w, MOVING_WIDTH); col++) {
      const o = (row * MOVING_WIDTH + col) * 3;
      frame[o] = rgb[0];
      frame[o + 1] = rgb[1];
      frame[o + 2] = rgb[2];
    }
  }
}

/**
 * Renders a sentence as the demo fixtures do (same timeline, same codes), but with the "mouth"
 * travelling across a 384×288 colour frame inside a face with a lips ring: the demo model reads it
 * only when a tracker follows the mouth. Encoded as H.264 MP4 by the real ffmpeg.
 */
export async function renderMovingMouth(options: MovingMouthOptions): Promise<MovingMouthFixture> {
  const fps = options.fps ?? 25;
  const plan = timeline(options.text);
  const frames = Math.ceil(plan.duration_s * fps - 1e-9);
  const centres: Array<[number, number]> = [];
  await encodeRawFrames({
    ffmpeg: options.ffmpeg,
    out: options.out,
    pixFmt: 'rgb24',
    width: MOVING_WIDTH,
    height: MOVING_HEIGHT,
    fps,
    frames,
    codecArgs: CODEC_ARGS.mp4,
    render: (i) => {
      const t = i / fps;
      const { token, event } = tokenAt(plan.events, t);
      const centre = mouthPath(t, plan.duration_s);
      centres.push(centre);
      const ring = !(options.occlude && i >= options.occlude.from && i < options.occlude.to);
      return renderMovingFrame(token, event + 2, centre, { ring, face: !options.noFace });
    },
  });
  return { text: plan.text, file: options.out, fps, frames, width: MOVING_WIDTH, height: MOVING_HEIGHT, centres, words: plan.words };
}
