#!/usr/bin/env node
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { OPERATOR_DEMUXERS, resolveFfmpeg } from '@talkie/media';
import { FaceModels } from '../runtime/face-models';
import { encodePng } from '../runtime/png';
import { chooseFacePackage } from '../tracking/face-package-dir';
import { MouthTracker } from '../tracking/mouth-tracker';
import { cropMontage, roiReport } from '../tracking/roi-report';

const USAGE = `usage: npm run roi -- --in CLIP --out DIR [--faces FACE_PACKAGE_DIR] [--fps 25] [--crop 96] [--columns 10]

Runs the mouth tracker on a video and writes, for debugging:
  DIR/roi.json     per frame: the face box and the 20 mouth landmarks in the video's pixels, or null
  DIR/montage.png  the aligned mouth crops, in a grid
The face package is --faces, else FACE_MODEL_DIR, else face-api's converted models (.talkie/models/faces).`;

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      in: { type: 'string' },
      out: { type: 'string' },
      faces: { type: 'string' },
      fps: { type: 'string', default: '25' },
      crop: { type: 'string', default: '96' },
      columns: { type: 'string', default: '10' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.in || !values.out) throw new Error(`--in and --out are required\n${USAGE}`);
  const fps = Number(values.fps);
  const crop = Number(values.crop);
  const columns = Number(values.columns);
  if (!(fps > 0 && fps <= 120) || !(Number.isInteger(crop) && crop >= 8 && crop <= 512) || !(Number.isInteger(columns) && columns >= 1)) {
    throw new Error(`bad --fps, --crop or --columns\n${USAGE}`);
  }
  const bins = await resolveFfmpeg();
  const choice = await chooseFacePackage({ faceModelDir: values.faces ?? process.env.FACE_MODEL_DIR });
  const models = await FaceModels.load(choice.dir);
  try {
    const tracker = new MouthTracker(models, { crop: { width: crop, height: crop } });
    const track = await tracker.track(path.resolve(values.in), {
      ffmpeg: bins.ffmpeg,
      ffprobe: bins.ffprobe,
      fps,
      maxFrames: Math.ceil(600 * fps),
      timeoutMs: 600_000,
      demuxers: OPERATOR_DEMUXERS,
    });
    const out = path.resolve(values.out);
    await mkdir(out, { recursive: true });
    const report = roiReport(track, models.manifest.landmarks.mouth);
    await writeFile(path.join(out, 'roi.json'), `${JSON.stringify(report, null, 1)}\n`);
    await writeFile(path.join(out, 'montage.png'), encodePng(cropMontage(track, columns)));
    console.log(
      `${report.frames} frames, a face in ${report.faces_found} (${models.manifest.name}); ` +
        `tracking ${(track.count / track.timings.total).toFixed(1)} frames/s; wrote ${path.join(out, 'roi.json')} and montage.png`,
    );
  } finally {
    await models.release();
  }
}

main(process.argv.slice(2)).catch((err: Error & { code?: string }) => {
  console.error(`roi: ${err.code ? `${err.code}: ` : ''}${err.message}`);
  process.exit(1);
});
