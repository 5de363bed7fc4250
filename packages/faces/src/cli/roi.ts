#!/usr/bin/env node
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FaceChoice, MAX_FACE_TRACKS } from '@talkie/contracts';
import { loadModelPackage } from '@talkie/inference';
import { OPERATOR_DEMUXERS, resolveFfmpeg } from '@talkie/media';
import { FaceModels } from '../runtime/face-models';
import { encodePng } from '../runtime/png';
import { chooseFacePackage, loadAlignment } from '../tracking/face-package-dir';
import type { MeanFaceAlignment } from '../tracking/mean-face-alignment';
import { MouthTracker } from '../tracking/mouth-tracker';
import { cropMontage, roiReport } from '../tracking/roi-report';

const USAGE = `usage: npm run roi -- --in CLIP --out DIR [--model LIP_PACKAGE_DIR] [--faces FACE_PACKAGE_DIR] [--fps 25] [--crop 96] [--columns 10] [--face active|all|INDEX]

Runs the mouth tracker on a video and writes, for debugging:
  DIR/roi.json     every face track found (index, median box, frames, activity, quality) and, per
                   frame of the read track, the face box and the 20 mouth landmarks in the video's
                   pixels, or null
  DIR/montage.png  the read track's aligned mouth crops, in a grid
--face: the track to read, as the API's face field: the active speaker (default), a track index,
or all (then also DIR/montage-INDEX.png for every track).
--model: crop as that lip package's landmarks ROI does (its crop size, its alignment, its frame
rate, its face package), i.e. what the worker feeds the model before the centre crop.
The face package is --faces, else the lip package's, else FACE_MODEL_DIR, else face-api's
converted models (.talkie/models/faces).`;

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      in: { type: 'string' },
      out: { type: 'string' },
      faces: { type: 'string' },
      model: { type: 'string' },
      fps: { type: 'string' },
      crop: { type: 'string' },
      columns: { type: 'string', default: '10' },
      face: { type: 'string', default: 'active' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.in || !values.out) throw new Error(`--in and --out are required\n${USAGE}`);
  if (values.model && values.crop) throw new Error(`--crop comes from the lip package with --model\n${USAGE}`);
  const lip = values.model ? await lipPackageRoi(path.resolve(values.model)) : undefined;
  const fps = Number(values.fps ?? lip?.fps ?? 25);
  const crop = lip?.crop ?? { width: Number(values.crop ?? 96), height: Number(values.crop ?? 96) };
  const columns = Number(values.columns);
  if (!(fps > 0 && fps <= 120) || !(Number.isInteger(crop.width) && crop.width >= 8 && crop.width <= 512) || !(Number.isInteger(columns) && columns >= 1)) {
    throw new Error(`bad --fps, --crop or --columns\n${USAGE}`);
  }
  const face = FaceChoice.safeParse(/^[0-9]+$/.test(values.face) ? Number(values.face) : values.face);
  if (!face.success) throw new Error(`bad --face: active, all or a track index below ${MAX_FACE_TRACKS}\n${USAGE}`);
  const bins = await resolveFfmpeg();
  const choice = values.faces
    ? await chooseFacePackage({ faceModelDir: values.faces })
    : await chooseFacePackage({ lipPackageDir: lip?.dir, facePackage: lip?.facePackage, faceModelDir: process.env.FACE_MODEL_DIR });
  const models = await FaceModels.load(choice.dir);
  try {
    const tracker = new MouthTracker(models, { crop, alignment: lip?.alignment });
    const track = await tracker.track(path.resolve(values.in), {
      ffmpeg: bins.ffmpeg,
      ffprobe: bins.ffprobe,
      fps,
      maxFrames: Math.ceil(600 * fps),
      timeoutMs: 600_000,
      demuxers: OPERATOR_DEMUXERS,
      face: face.data,
    });
    const out = path.resolve(values.out);
    await mkdir(out, { recursive: true });
    const report = roiReport(track, models.manifest.landmarks.mouth);
    await writeFile(path.join(out, 'roi.json'), `${JSON.stringify(report, null, 1)}\n`);
    await writeFile(path.join(out, 'montage.png'), encodePng(cropMontage(track, columns)));
    if (face.data === 'all') for (const read of track.read) await writeFile(path.join(out, `montage-${read.index}.png`), encodePng(cropMontage(track, columns, read.crops)));
    console.log(
      `${report.frames} frames, a face in ${report.faces_found} (${models.manifest.name}); ` +
        `${report.tracks.length} face track${report.tracks.length === 1 ? '' : 's'}, read #${report.track}, active speaker #${report.active} (` +
        report.tracks.map((t) => `#${t.index}: ${Math.round(t.box.width)} px wide at ${Math.round(t.box.x)},${Math.round(t.box.y)}, ${t.detected_frames} frames, activity ${t.activity}`).join('; ') +
        '); ' +
        `crops ${crop.width}×${crop.height} by ${report.alignment}${report.crops_clamped.length ? `, ${report.crops_clamped.length} clamped` : ''}; ` +
        `tracking ${(track.count / track.timings.total).toFixed(1)} frames/s; wrote ${path.join(out, 'roi.json')} and montage.png`,
    );
  } finally {
    await models.release();
  }
}

/** What `--model` takes from a lip package: its landmarks ROI, alignment read, and frame rate. */
async function lipPackageRoi(dir: string): Promise<{ dir: string; fps: number; crop: { width: number; height: number }; facePackage?: string; alignment?: MeanFaceAlignment }> {
  const { manifest } = await loadModelPackage(dir);
  if (manifest.roi.mode !== 'landmarks') throw new Error(`${dir}: its roi.mode is ${manifest.roi.mode}, not landmarks: the worker tracks no mouth for it`);
  const { roi } = manifest;
  return {
    dir,
    fps: manifest.frame_rate,
    crop: roi.crop,
    facePackage: roi.face_package,
    alignment: roi.alignment ? await loadAlignment(dir, roi.alignment) : undefined,
  };
}

main(process.argv.slice(2)).catch((err: Error & { code?: string }) => {
  console.error(`roi: ${err.code ? `${err.code}: ` : ''}${err.message}`);
  process.exit(1);
});
