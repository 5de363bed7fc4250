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
  const faces = options.face ? [{ token, centre, ring: options.ring, open: 1 }] : [];
  return renderFacesFrame(MOVING_WIDTH, MOVING_HEIGHT, seed, faces);
}

/** One synthetic face in a frame: its mouth's code, centre, whether its ring is drawn, and its ring's height over its width (≥ 1: how far the mouth is open). */
export interface DrawnFace {
  token: number;
  centre: [number, number];
  ring: boolean;
  open: number;
}

/** A `width`×`height` RGB frame: the block background of `seed`, then each face (skin disc, lips ring, mouth code). */
export function renderFacesFrame(width: number, height: number, seed: number, faces: readonly DrawnFace[]): Uint8Array {
  const W = width;
  const H = height;
  const frame = new Uint8Array(W * H * 3);
  const random = prng(seed);
  for (let by = 0; by < Math.ceil(H / CELL); by++) {
    for (let bx = 0; bx < Math.ceil(W / CELL); bx++) {
      const v = random() < 0.5 ? BRIGHT : DARK;
      fillRect(frame, W, H, bx * CELL, by * CELL, CELL, CELL, [v, v, v]);
    }
  }
  for (const face of faces) {
    const [cx, cy] = face.centre;
    const inner = RING_RADIUS - RING_THICKNESS / 2;
    const outer = RING_RADIUS + RING_THICKNESS / 2;
    for (let y = Math.max(0, Math.floor(cy - FACE_RADIUS)); y < Math.min(H, Math.ceil(cy + FACE_RADIUS)); y++) {
      for (let x = Math.max(0, Math.floor(cx - FACE_RADIUS)); x < Math.min(W, Math.ceil(cx + FACE_RADIUS)); x++) {
        if (Math.hypot(x + 0.5 - cx, y + 0.5 - cy) > FACE_RADIUS) continue;
        // an open mouth: the ring stretched vertically (an ellipse `open` times as tall as wide)
        const d = Math.hypot(x + 0.5 - cx, (y + 0.5 - cy) / face.open);
        const colour = face.ring && d >= inner && d <= outer ? LIPS_RGB : SKIN;
        const o = (y * W + x) * 3;
        frame[o] = colour[0];
        frame[o + 1] = colour[1];
        frame[o + 2] = colour[2];
      }
    }
    const x0 = cx - INPUT_SIZE / 2;
    const y0 = cy - INPUT_SIZE / 2;
    CODES[face.token].forEach((bit, cell) => {
      const v = bit ? BRIGHT : DARK;
      fillRect(frame, W, H, x0 + (cell % GRID) * CELL, y0 + Math.floor(cell / GRID) * CELL, CELL, CELL, [v, v, v]);
    });
  }
  return frame;
}

function fillRect(frame: Uint8Array, W: number, H: number, x: number, y: number, w: number, h: number, rgb: readonly number[]) {
  for (let row = Math.max(0, y); row < Math.min(y + h, H); row++) {
    for (let col = Math.max(0, x); col < Math.min(x + w, W); col++) {
      const o = (row * W + col) * 3;
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

/** The two-face fixture's frame: wider, so each face's ring has detector windows of its own (see `DETECTOR_WINDOWS`). */
export const TWO_FACES_WIDTH = 480;
export const TWO_FACES_HEIGHT = 288;
/** the faces' mean centres, 260 px apart: a face's crop (its box and padding) never reaches the other's ring */
const TWO_FACE_X = [110, 370] as const;

export interface TwoFacesOptions {
  text: string;
  out: string;
  ffmpeg: string;
  fps?: number;
  /** which face speaks the text (its mouth code and its ring opening with each letter); the other's mouth stays closed and blank */
  speaker: 'left' | 'right';
}

export interface TwoFacesFixture {
  text: string;
  file: string;
  fps: number;
  frames: number;
  width: number;
  height: number;
  speaker: 'left' | 'right';
  /** each face's mouth centre per frame: [left, right] */
  centres: Array<[[number, number], [number, number]]>;
  words: WordTiming[];
}

/** How far a speaking mouth is open for a token: closed for the blank and the word gap, 5–15% for letters. */
const opening = (token: number) => (token <= 1 ? 1 : 1 + 0.05 * (1 + (token % 3)));

/**
 * Issue 17: two synthetic faces in one video, both moving (up and down in opposite phase, drifting
 * sideways), one speaking `text` as the demo fixtures do (its code, its ring opening with each
 * letter), the other silent (the blank's code, its ring round and still in shape). The demo model
 * reads the sentence from the speaker's track and nothing from the other's; the active-speaker
 * choice must pick the speaker from the landmarks' mouth opening alone.
 */
export async function renderTwoFaces(options: TwoFacesOptions): Promise<TwoFacesFixture> {
  const fps = options.fps ?? 25;
  const plan = timeline(options.text);
  const frames = Math.ceil(plan.duration_s * fps - 1e-9);
  const centres: TwoFacesFixture['centres'] = [];
  const speaking = options.speaker === 'left' ? 0 : 1;
  await encodeRawFrames({
    ffmpeg: options.ffmpeg,
    out: options.out,
    pixFmt: 'rgb24',
    width: TWO_FACES_WIDTH,
    height: TWO_FACES_HEIGHT,
    fps,
    frames,
    codecArgs: CODEC_ARGS.mp4,
    render: (i) => {
      const t = i / fps;
      const s = plan.duration_s > 0 ? t / plan.duration_s : 0;
      const { token, event } = tokenAt(plan.events, t);
      const at = (k: number): [number, number] => [
        Math.round(TWO_FACE_X[k] + 10 * Math.sin(Math.PI * s) * (k === 0 ? 1 : -1)),
        Math.round(TWO_FACES_HEIGHT / 2 + 30 * Math.sin(2 * Math.PI * s + k * Math.PI)),
      ];
      const pair: [[number, number], [number, number]] = [at(0), at(1)];
      centres.push(pair);
      const faces = pair.map((centre, k) =>
        k === speaking ? { token, centre, ring: true, open: opening(token) } : { token: 0, centre, ring: true, open: 1 },
      );
      return renderFacesFrame(TWO_FACES_WIDTH, TWO_FACES_HEIGHT, event + 2, faces);
    },
  });
  return { text: plan.text, file: options.out, fps, frames, width: TWO_FACES_WIDTH, height: TWO_FACES_HEIGHT, speaker: options.speaker, centres, words: plan.words };
}
