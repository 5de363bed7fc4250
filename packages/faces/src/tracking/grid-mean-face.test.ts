import { gridDir } from '../../../../test/support/shared-data';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { OPERATOR_DEMUXERS, resolveFfmpeg, streamRgbFrames, type FfmpegBinaries } from '@talkie/media';
import { ensureFaceModels } from '../convert/face-models';
import { FaceModels } from '../runtime/face-models';
import { GRID_MEAN_FACE_FIXTURE } from '../synthetic/mean-face-fixture';
import type { Similarity } from './alignment';
import { upstreamCrops, upstreamInterpolate } from './auto-avsr-reference.testing';
import { loadMeanFace, type Point } from './mean-face';
import { autoAvsrAlignment } from './mean-face-alignment';
import { MouthTracker, type MouthTrack } from './mouth-tracker';
import { rgbToGreyOpenCv } from './opencv-sampling';

/**
 * The `mean_face` alignment (Auto-AVSR's crops) on real speakers: the eight GRID clips (Cooke et
 * al. 2006, CC BY 4.0) in ../shared/data/grid, read in place, tracked with face-api's models
 * converted to ONNX, registered to Talkie's GRID test mean face (fixtures/README.md: not
 * upstream's).
 */
jest.setTimeout(600_000);

const GRID = gridDir();
const CLIPS = ['bbaf2n', 'brbk7n', 'lbax4n', 'lbbc2a', 'lrwp9a', 'lwbsza', 'pwij3p', 'sbia1a'];

let tmp: string;
let bins: FfmpegBinaries;
let models: FaceModels;
let meanFace: Point[];
const tracks = new Map<string, MouthTrack>();
const input = () => ({ ffmpeg: bins.ffmpeg, ffprobe: bins.ffprobe, fps: 25, maxFrames: 500, timeoutMs: 120_000, demuxers: OPERATOR_DEMUXERS });

beforeAll(async () => {
  if (!existsSync(path.join(GRID, 'bbaf2n.mpg'))) throw new Error(`the GRID clips are missing from ${GRID} (see its README)`);
  tmp = await mkdtemp(path.join(os.tmpdir(), 'talkie-grid-mean-face-'));
  bins = await resolveFfmpeg();
  await ensureFaceModels(path.join(tmp, 'faces'));
  models = await FaceModels.load(path.join(tmp, 'faces'));
  meanFace = await loadMeanFace(GRID_MEAN_FACE_FIXTURE);
  const tracker = new MouthTracker(models, { alignment: { spec: autoAvsrAlignment(), meanFace } });
  for (const clip of CLIPS) tracks.set(clip, await tracker.track(path.join(GRID, `${clip}.mpg`), input()));
});

afterAll(async () => {
  await models?.release();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const apply = (t: Similarity, p: Float32Array, i: number): Point => [t.a * p[2 * i] - t.b * p[2 * i + 1] + t.tx, t.b * p[2 * i] + t.a * p[2 * i + 1] + t.ty];
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

describe.each(CLIPS)('GRID %s with the mean_face alignment', (clip) => {
  const track = () => tracks.get(clip)!;

  it('puts each frame’s mouth where the registration says: centre on the crop’s pixel 48, as wide as the mean face’s', () => {
    const { faces, transforms, count } = track();
    expect(track()).toMatchObject({ alignment: 'mean_face', clamped: [], count: 75, crop: { width: 96, height: 96 } });
    // the frame's own landmarks through its transform (Talkie's pixels: pixel 48's centre is 48.5);
    // they differ from the smoothed ones the crop was centred on by the mouth's motion and jitter
    const centres: Point[] = [];
    const widths: number[] = [];
    for (let f = 0; f < count; f++) {
      const face = faces[f];
      if (!face) continue;
      const mouth = Array.from({ length: 20 }, (_, k) => apply(transforms[f], face.points, 48 + k));
      centres.push([mean(mouth.map((p) => p[0])), mean(mouth.map((p) => p[1]))]);
      widths.push(Math.hypot(mouth[6][0] - mouth[0][0], mouth[6][1] - mouth[0][1]));
    }
    const meanFaceWidth = Math.hypot(meanFace[54][0] - meanFace[48][0], meanFace[54][1] - meanFace[48][1]);
    // measured: at most 2.2 px off in any frame, on average within 0.3 px
    for (const [x, y] of centres) expect(Math.hypot(x - 48.5, y - 48.5)).toBeLessThan(3);
    expect(Math.hypot(mean(centres.map((c) => c[0])) - 48.5, mean(centres.map((c) => c[1])) - 48.5)).toBeLessThan(0.5);
    // speech rounds and spreads the lips (WHITE, ZERO): measured up to 6.6 px either way in a
    // frame, on average within 2.9 px (lwbsza) of the mean face's 53.5
    for (const w of widths) expect(Math.abs(w - meanFaceWidth)).toBeLessThan(8);
    expect(Math.abs(mean(widths) - meanFaceWidth)).toBeLessThan(3.5);
  });
});

describe('GRID bbaf2n against upstream’s VideoProcess, ported step by step', () => {
  it('cuts the same pixels as warping each frame into the 256×256 registered image and slicing the patch out', async () => {
    const track = tracks.get('bbaf2n')!;
    const grey: Uint8Array[] = [];
    const count = await streamRgbFrames(path.join(GRID, 'bbaf2n.mpg'), { ...input(), width: track.width, height: track.height }, (rgb) => {
      grey.push(rgbToGreyOpenCv(rgb));
    });
    expect(count).toBe(track.count);
    // Talkie's landmarks put pixel centres at +0.5, upstream's (OpenCV's) at whole numbers
    const landmarks = upstreamInterpolate(track.faces.map((f) => (f ? Array.from({ length: 68 }, (_, i): Point => [f.points[2 * i] - 0.5, f.points[2 * i + 1] - 0.5]) : null)))!;
    const spec = autoAvsrAlignment();
    const patches = upstreamCrops(grey, track, landmarks, meanFace, {
      crop: track.crop,
      size: spec.reference_size,
      stablePoints: spec.stable_points,
      mouth: spec.mouth_points,
      windowMargin: spec.smoothing_window,
    });
    let differing = 0;
    let worst = 0;
    patches.forEach((patch, f) => {
      expect(patch).toHaveLength(96 * 96);
      const crop = track.crops.subarray(f * 96 * 96, (f + 1) * 96 * 96);
      for (let i = 0; i < patch.length; i++) {
        const d = Math.abs(patch[i] - crop[i]);
        if (d) differing++;
        worst = Math.max(worst, d);
      }
    });
    // the two compute the same similarity in different orders: a last-bit difference could move a
    // sample across one of OpenCV's 1/32-pixel steps, by a grey level (measured: none of the
    // 691,200 differ; and none against upstream's Python with OpenCV 4.6 itself, on all 8 clips)
    expect(worst).toBeLessThanOrEqual(1);
    expect(differing).toBeLessThanOrEqual(20);
  });
});
