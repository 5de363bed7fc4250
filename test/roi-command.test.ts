import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { demoManifest, writeDemoModel } from '@talkie/demo-model';
import { autoAvsrAlignment, decodePng, type RoiReport } from '@talkie/faces';
import {
  renderMovingMouth,
  renderTwoFaces,
  syntheticMeanFace,
  writeSyntheticFaceModels,
  type MovingMouthFixture,
  type TwoFacesFixture,
} from '@talkie/faces/testing';
import { resolveFfmpeg } from '@talkie/media';
import { ROOT } from './support/stack';

/**
 * `npm run roi` as operators run it: the built CLI as a real process, on a real video, with a real
 * face package (Talkie's synthetic one, whose "mouth" position in each frame is known exactly).
 */
jest.setTimeout(180_000);

const CLI = path.join(ROOT, 'packages', 'faces', 'dist', 'cli', 'roi.js');
let tmp: string;
let moving: MovingMouthFixture;
let faces: string;
let two: TwoFacesFixture;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'talkie-roi-cli-'));
  const bins = await resolveFfmpeg();
  faces = path.join(tmp, 'faces');
  await writeSyntheticFaceModels(faces);
  moving = await renderMovingMouth({ text: 'HI', out: path.join(tmp, 'moving.mp4'), ffmpeg: bins.ffmpeg, occlude: { from: 20, to: 23 } });
  two = await renderTwoFaces({ text: 'HI', out: path.join(tmp, 'two.mp4'), ffmpeg: bins.ffmpeg, speaker: 'right' });
  execFileSync(bins.ffmpeg, ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25:duration=1', '-pix_fmt', 'yuv420p', path.join(tmp, 'testsrc.mp4')]);
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });

describe('npm run roi', () => {
  it('writes roi.json (boxes and mouth landmarks in video pixels, null without a face) and montage.png', () => {
    const out = path.join(tmp, 'out');
    const done = run('--in', moving.file, '--out', out, '--faces', faces, '--columns', '8');
    expect(done.stderr).toBe('');
    expect(done.status).toBe(0);
    expect(done.stdout).toMatch(new RegExp(`^${moving.frames} frames, a face in ${moving.frames - 3} `));

    const report = JSON.parse(readFileSync(path.join(out, 'roi.json'), 'utf8')) as RoiReport;
    expect(report).toMatchObject({ schema: 'talkie.roi/v1', fps: 25, frames: moving.frames, source: { width: 384, height: 288 }, faces_found: moving.frames - 3 });
    expect(report.per_frame).toHaveLength(moving.frames); // every frame is checked below
    report.per_frame.forEach((frame, i) => {
      expect(frame.index).toBe(i);
      if (i >= 20 && i < 23) {
        expect(frame).toMatchObject({ face: null, mouth: null }); // the lips ring was hidden there
        return;
      }
      expect(frame.mouth).toHaveLength(20);
      const cx = frame.mouth!.reduce((s, [x]) => s + x, 0) / 20;
      const cy = frame.mouth!.reduce((s, [, y]) => s + y, 0) / 20;
      expect(Math.hypot(cx - moving.centres[i][0], cy - moving.centres[i][1])).toBeLessThan(1.5);
      expect(frame.face!.width).toBeGreaterThan(100);
    });

    const montage = decodePng(readFileSync(path.join(out, 'montage.png')));
    const rows = Math.ceil(moving.frames / 8);
    expect(montage).toMatchObject({ width: 8 * 96 + 7 * 2, height: rows * 96 + (rows - 1) * 2, channels: 1 });
  });

  it('fails a video without a face with no_face_detected, and writes nothing', () => {
    const out = path.join(tmp, 'none');
    const done = run('--in', path.join(tmp, 'testsrc.mp4'), '--out', out, '--faces', faces);
    expect(done.status).toBe(1);
    expect(done.stderr).toMatch(/^roi: no_face_detected: /);
    expect(() => readFileSync(path.join(out, 'roi.json'))).toThrow(/ENOENT/);
  });

  it("with --model, crops as the lip package's landmarks ROI does: its face package, crop and mean_face alignment", async () => {
    const pkg = path.join(tmp, 'lip');
    await writeDemoModel(pkg);
    const roi = { mode: 'landmarks', face_package: 'faces', crop: { width: 96, height: 96 }, alignment: autoAvsrAlignment('mean-face.json') };
    await writeFile(path.join(pkg, 'model.json'), JSON.stringify({ ...demoManifest(), roi }));
    await writeFile(path.join(pkg, 'mean-face.json'), JSON.stringify({ points: syntheticMeanFace() }));
    await writeSyntheticFaceModels(path.join(pkg, 'faces'));
    const out = path.join(tmp, 'out-model');
    const done = run('--in', moving.file, '--out', out, '--model', pkg);
    expect(done.stderr).toBe('');
    expect(done.status).toBe(0);
    expect(done.stdout).toMatch(/ crops 96×96 by mean_face; /);
    const report = JSON.parse(readFileSync(path.join(out, 'roi.json'), 'utf8')) as RoiReport;
    expect(report).toMatchObject({ frames: moving.frames, faces_found: moving.frames - 3, alignment: 'mean_face', crops_clamped: [] });
    expect(decodePng(readFileSync(path.join(out, 'montage.png')))).toMatchObject({ width: 10 * 96 + 9 * 2, channels: 1 });

    // the crop size is the package's, and a package whose ROI is not tracked has none to show
    expect(run('--in', moving.file, '--out', out, '--model', pkg, '--crop', '64').stderr).toMatch(/--crop comes from the lip package/);
    await writeFile(path.join(pkg, 'model.json'), JSON.stringify({ ...demoManifest(), roi: { mode: 'center' } }));
    expect(run('--in', moving.file, '--out', out, '--model', pkg).stderr).toMatch(/roi\.mode is center, not landmarks/);
  });

  it('lists every face track (issue 17) and, with --face all, writes a montage per track', () => {
    const out = path.join(tmp, 'two-out');
    const done = run('--in', two.file, '--out', out, '--faces', faces, '--face', 'all');
    expect(done.stderr).toBe('');
    expect(done.status).toBe(0);
    expect(done.stdout).toMatch(/ 2 face tracks, read #0, active speaker #1 \(#0: /);
    const report = JSON.parse(readFileSync(path.join(out, 'roi.json'), 'utf8')) as RoiReport;
    expect(report.tracks.map((t) => [t.index, t.chosen, t.detected_frames])).toEqual([
      [0, true, two.frames],
      [1, true, two.frames],
    ]);
    expect(report.tracks[0].box.x + report.tracks[0].box.width / 2).toBeLessThan(240); // left to right
    expect(report.tracks[1].box.x + report.tracks[1].box.width / 2).toBeGreaterThan(240);
    expect(report.active).toBe(1);
    for (const index of [0, 1]) expect(decodePng(readFileSync(path.join(out, `montage-${index}.png`)))).toMatchObject({ width: 10 * 96 + 9 * 2, channels: 1 });

    // by default the active speaker is read; an index beyond the tracks fails with its code
    expect(run('--in', two.file, '--out', out, '--faces', faces).status).toBe(0);
    expect((JSON.parse(readFileSync(path.join(out, 'roi.json'), 'utf8')) as RoiReport).track).toBe(1);
    expect(run('--in', two.file, '--out', out, '--faces', faces, '--face', '3').stderr).toMatch(/^roi: face_not_found: /);
    expect(run('--in', two.file, '--out', out, '--faces', faces, '--face', 'loudest').stderr).toMatch(/bad --face/);
  });

  it('explains its usage when arguments are missing', () => {
    const done = run('--in', moving.file);
    expect(done.status).toBe(1);
    expect(done.stderr).toMatch(/--in and --out are required/);
  });
});
