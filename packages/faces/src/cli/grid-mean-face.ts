#!/usr/bin/env node
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { OPERATOR_DEMUXERS, resolveFfmpeg } from '@talkie/media';
import { FaceModels } from '../runtime/face-models';
import { buildMeanFace, FIXTURE_GEOMETRY, GRID_MEAN_FACE_FIXTURE } from '../synthetic/mean-face-fixture';
import { chooseFacePackage } from '../tracking/face-package-dir';
import { autoAvsrAlignment } from '../tracking/mean-face-alignment';
import { MouthTracker } from '../tracking/mouth-tracker';

const USAGE = `usage: node packages/faces/dist/cli/grid-mean-face.js --grid DIR [--out FILE] [--faces FACE_PACKAGE_DIR]

Rebuilds Talkie's TEST mean face (${path.relative(process.cwd(), GRID_MEAN_FACE_FIXTURE)}) from the GRID
clips in DIR (shared/data/grid): every frame's 68 landmarks, registered and averaged. It is not
Auto-AVSR's mean face and must not go into a package for a real Auto-AVSR model.`;

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { grid: { type: 'string' }, out: { type: 'string' }, faces: { type: 'string' }, help: { type: 'boolean', default: false } } });
  if (values.help || !values.grid) {
    console.log(USAGE);
    if (!values.help) process.exitCode = 1;
    return;
  }
  const clips = (await readdir(values.grid)).filter((f) => f.endsWith('.mpg')).sort();
  if (clips.length === 0) throw new Error(`no .mpg clips in ${values.grid}`);
  const bins = await resolveFfmpeg();
  const choice = await chooseFacePackage({ faceModelDir: values.faces ?? process.env.FACE_MODEL_DIR });
  const models = await FaceModels.load(choice.dir);
  try {
    const tracker = new MouthTracker(models);
    const frames: Float32Array[] = [];
    for (const clip of clips) {
      const track = await tracker.track(path.join(values.grid, clip), {
        ffmpeg: bins.ffmpeg,
        ffprobe: bins.ffprobe,
        fps: 25,
        maxFrames: 2000,
        timeoutMs: 120_000,
        demuxers: OPERATOR_DEMUXERS,
      });
      for (const face of track.faces) if (face) frames.push(face.points);
    }
    const points = buildMeanFace(frames, autoAvsrAlignment().stable_points);
    const { leftEye, rightEye, mouth, size } = FIXTURE_GEOMETRY;
    const description =
      `Talkie's TEST FIXTURE, not Auto-AVSR's mean face (upstream's 20words_mean_face.npy). ${models.manifest.name}'s 68 landmarks ` +
      `over ${frames.length} frames of the GRID clips ${clips.join(', ')} (one speaker; Cooke et al. 2006, CC BY 4.0), each registered ` +
      `by its stable points onto the mean and averaged, the mean placed by the similarity that brings its eye centres and mouth centre ` +
      `nearest (least squares) to (${leftEye}), (${rightEye}) and (${mouth}) of a ${size}x${size} frame; OpenCV pixel coordinates. For tests only.`;
    const out = path.resolve(values.out ?? GRID_MEAN_FACE_FIXTURE);
    await writeFile(out, `{\n  "description": ${JSON.stringify(description)},\n  "points": [\n${points.map((p) => `    ${JSON.stringify(p)}`).join(',\n')}\n  ]\n}\n`);
    console.log(`${frames.length} frames of ${clips.length} clips; wrote ${out}`);
  } finally {
    await models.release();
  }
}

main(process.argv.slice(2)).catch((err: Error) => {
  console.error(`grid-mean-face: ${err.message}`);
  process.exit(1);
});
