import { gridDir } from '../../../../test/support/shared-data';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { OPERATOR_DEMUXERS, resolveFfmpeg, type FfmpegBinaries } from '@talkie/media';
import { ensureFaceModels } from '../convert/face-models';
import { FaceModels } from '../runtime/face-models';
import { decodePng } from '../runtime/png';
import { MouthTracker, type MouthTrack } from './mouth-tracker';

/**
 * Issue 10 on real speakers: the eight GRID corpus clips (Cooke et al. 2006, CC BY 4.0) in
 * ../shared/data/grid (read in place, never copied here), tracked with face-api's detector and
 * 68-point landmark net converted to ONNX and run by onnxruntime-node, on CPU.
 */
jest.setTimeout(600_000);

const GRID = gridDir();
const CLIPS = ['bbaf2n', 'brbk7n', 'lbax4n', 'lbbc2a', 'lrwp9a', 'lwbsza', 'pwij3p', 'sbia1a'];
const FPS = 25;

let tmp: string;
let bins: FfmpegBinaries;
let models: FaceModels;
const tracks = new Map<string, MouthTrack>();

beforeAll(async () => {
  if (!existsSync(path.join(GRID, 'bbaf2n.mpg'))) throw new Error(`the GRID clips are missing from ${GRID} (see its README)`);
  tmp = await mkdtemp(path.join(os.tmpdir(), 'talkie-grid-'));
  bins = await resolveFfmpeg();
  await ensureFaceModels(path.join(tmp, 'faces'));
  models = await FaceModels.load(path.join(tmp, 'faces'));
  const tracker = new MouthTracker(models);
  for (const clip of CLIPS) {
    tracks.set(
      clip,
      await tracker.track(path.join(GRID, `${clip}.mpg`), {
        ffmpeg: bins.ffmpeg,
        ffprobe: bins.ffprobe,
        fps: FPS,
        maxFrames: 500,
        timeoutMs: 120_000,
        demuxers: OPERATOR_DEMUXERS, // GRID is MPEG-PS
      }),
    );
  }
});

afterAll(async () => {
  await models?.release();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

type Points = Float32Array;
const point = (p: Points, i: number): [number, number] => [p[2 * i], p[2 * i + 1]];
const distance = (a: [number, number], b: [number, number]) => Math.hypot(a[0] - b[0], a[1] - b[1]);
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

/**
 * Mouth opening from the landmarks: the mean gap between the inner lips (61–67, 62–66, 63–65)
 * over the mouth's width (48–54), so it does not change with the face's distance.
 */
const opening = (p: Points) => (distance(point(p, 61), point(p, 67)) + distance(point(p, 62), point(p, 66)) + distance(point(p, 63), point(p, 65))) / 3 / distance(point(p, 48), point(p, 54));

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i] / n;
    mb += b[i] / n;
  }
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

describe.each(CLIPS)('GRID %s', (clip) => {
  const track = () => tracks.get(clip)!;

  it('follows the one speaker as one face track (issue 17: no second track from a missed or doubled detection)', () => {
    expect(track().tracks).toHaveLength(1);
    expect(track().active).toBe(0);
    expect(track().tracks[0].quality.detected_frames).toBe(track().faces.filter(Boolean).length);
  });

  it('finds a face on at least 95% of its 3 s of frames', () => {
    expect(track().count).toBe(75);
    expect(track().faces.filter(Boolean).length / track().count).toBeGreaterThanOrEqual(0.95);
  });

  it('puts all 20 mouth landmarks inside the lower half of the face box', () => {
    for (const face of track().faces) {
      if (!face) continue;
      const { x, y, width, height } = face.box;
      for (let i = 48; i < 68; i++) {
        const [px, py] = point(face.points, i);
        expect(px).toBeGreaterThanOrEqual(x);
        expect(px).toBeLessThanOrEqual(x + width);
        expect(py).toBeGreaterThanOrEqual(y + height / 2);
        expect(py).toBeLessThanOrEqual(y + height);
      }
    }
  });

  it('measures the mouth opening rising during the words and falling in the silences at both ends', () => {
    const open = track().faces.map((f) => (f ? opening(f.points) : NaN));
    // GRID's words fill about 0.5–2.5 s (frames 12–62); the clip's first 3 and last 5 frames are
    // silence. The speaker's lips are often parted at rest, so the rest level is compared with the
    // peak of speech rather than with zero.
    const words = open.slice(12, 63).filter(Number.isFinite);
    const peak = Math.max(...words);
    const start = mean(open.slice(0, 3).filter(Number.isFinite));
    const end = mean(open.slice(-5).filter(Number.isFinite));
    expect(peak).toBeGreaterThan(1.2 * start);
    expect(peak).toBeGreaterThan(1.2 * end);
    // and the mouth opens and closes during the words, several times (syllables)
    expect(Math.max(...words) - Math.min(...words)).toBeGreaterThan(0.1);
  });
});

describe('GRID bbaf2n against LipNet’s reference mouth crops', () => {
  /**
   * The measure: mouth opening over time, read from the pixels of each pipeline's crops in the same
   * way: the darkness (255 − mean grey) of a band across the middle of the mouth, where the lip gap
   * and the dark mouth cavity appear as the mouth opens. It needs no landmarks on LipNet's side
   * (only its published crops), it ignores the pipelines' different framing and colour handling,
   * and its correlation frame by frame over the clip's 75 frames says whether both crops show the
   * same mouth doing the same thing at the same time: crops that drifted off the mouth, or lagged,
   * lose it (checked below by shifting one series by a few frames).
   */
  const LIPNET = () => path.join(GRID, 'bbaf2n-lipnet-mouth-crops');

  function lipnetDarkness(): number[] {
    const files = readdirSync(LIPNET()).filter((f) => f.endsWith('.png')).sort();
    expect(files).toHaveLength(75);
    return files.map((file) => {
      const png = decodePng(readFileSync(path.join(LIPNET(), file)));
      expect([png.width, png.height]).toEqual([100, 50]);
      // LipNet centres its 100×50 crop on the mouth: the band is the middle 40% × 28%
      let sum = 0;
      let n = 0;
      for (let y = 18; y < 32; y++) {
        for (let x = 30; x < 70; x++) {
          const o = (y * png.width + x) * png.channels;
          sum += 0.299 * png.data[o] + 0.587 * png.data[o + 1] + 0.114 * png.data[o + 2];
          n++;
        }
      }
      return 255 - sum / n;
    });
  }

  function talkieDarkness(track: MouthTrack): number[] {
    const { width: w, height: h } = track.crop;
    // the same band around the mouth centre (the crop's centre), scaled to the 96×96 crop
    const x0 = Math.round(w / 2 - 0.2 * w);
    const x1 = Math.round(w / 2 + 0.2 * w);
    const y0 = Math.round(h / 2 - 0.07 * w);
    const y1 = Math.round(h / 2 + 0.07 * w);
    return Array.from({ length: track.count }, (_, f) => {
      let sum = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sum += track.crops[f * w * h + y * w + x];
      return 255 - sum / ((x1 - x0) * (y1 - y0));
    });
  }

  it('shows the same mouth opening frame by frame (correlation over time ≥ 0.85)', () => {
    const track = tracks.get('bbaf2n')!;
    const ours = talkieDarkness(track);
    const theirs = lipnetDarkness();
    expect(ours).toHaveLength(theirs.length);
    const r = pearson(ours, theirs);
    expect(r).toBeGreaterThanOrEqual(0.85);
    // the measure is sensitive to time: three frames of lag lose much of it
    const lagged = pearson(ours.slice(3), theirs.slice(0, -3));
    expect(lagged).toBeLessThan(r - 0.2);
  });
});

describe('face-api on a video without a face', () => {
  it("fails ffmpeg's testsrc with no_face_detected", async () => {
    const file = path.join(tmp, 'testsrc.mp4');
    execFileSync(bins.ffmpeg, ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25:duration=2', '-pix_fmt', 'yuv420p', file]);
    await expect(
      new MouthTracker(models).track(file, { ffmpeg: bins.ffmpeg, ffprobe: bins.ffprobe, fps: FPS, maxFrames: 500, timeoutMs: 60_000 }),
    ).rejects.toMatchObject({ code: 'no_face_detected' });
  });
});
