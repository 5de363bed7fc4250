import { existsSync } from 'node:fs';
import path from 'node:path';
import { ensureFaceModels, FaceModels, MouthTracker } from '@talkie/faces';
import { OPERATOR_DEMUXERS } from '@talkie/media';
import { fmt, median, ratio } from '../report';
import { ROOT } from '../stack';
import { ffmpegNull, timed } from '../timing';
import type { RowSpec } from './types';

const REPS = 3;
const FPS = 25;
/** GRID's real speaker (see ../shared/data/grid/README.md): read in place, never copied; TALKIE_SHARED_DIR overrides where shared/ is */
const GRID_CLIP = path.join(process.env.TALKIE_SHARED_DIR ?? path.resolve(ROOT, '..', 'shared'), 'data', 'grid', 'bbaf2n.mpg');

/**
 * Row 9: the mouth-tracking stage (issue 10) on CPU, with face-api's models converted to ONNX:
 * decode to RGB at 25 fps, detection every 5th frame, landmarks on every frame in batches, gap
 * filling, smoothing, alignment and the 96×96 crops. Beside it, ffmpeg decoding the same file to
 * nothing (one thread, and its default), the cost no tracker can avoid. Frames per second of video.
 */
export const mouthTrackingRow: RowSpec = {
  id: 9,
  name: 'mouth tracking (CPU)',
  target: '≥ 25 frames/s (real time at 25 fps)',
  async run(ctx) {
    // without the GRID clip, a testsrc2 clip has no face: the tracker would detect on every frame
    // and fail, so the row says so instead of measuring something else
    if (!existsSync(GRID_CLIP)) throw new Error(`the GRID clip ${GRID_CLIP} is missing (see ../shared/data/grid/README.md)`);
    const facesDir = path.join(ctx.tmp, 'faces');
    const built = await ensureFaceModels(facesDir);
    const models = await FaceModels.load(facesDir);
    try {
      const tracker = new MouthTracker(models);
      const track = () =>
        tracker.track(GRID_CLIP, {
          ffmpeg: ctx.ffmpeg.ffmpeg,
          ffprobe: ctx.ffmpeg.ffprobe,
          fps: FPS,
          maxFrames: 10_000,
          timeoutMs: 120_000,
          demuxers: OPERATOR_DEMUXERS,
        });
      const decodeOnly = (threads?: number) => ffmpegNull(ctx.ffmpeg.ffmpeg, GRID_CLIP, { threads, filter: `fps=${FPS}` });
      const { value: first } = await timed(track); // warm: page cache, kernels
      await decodeOnly(1);
      const t: number[] = [];
      const single: number[] = [];
      const auto: number[] = [];
      const stages: Array<Record<string, number>> = [];
      for (let i = 0; i < REPS; i++) {
        const run = await timed(track);
        t.push(run.seconds);
        stages.push(run.value.timings);
        single.push((await timed(() => decodeOnly(1))).seconds);
        auto.push((await timed(() => decodeOnly())).seconds);
      }
      const frames = first.count;
      const trackFps = frames / median(t);
      const singleFps = frames / median(single);
      const autoFps = frames / median(auto);
      const stage = (key: string) => median(stages.map((s) => s[key]));
      return {
        talkie: `${fmt(trackFps)} frames/s (decode RGB, detect every 5th, landmarks all, align, 96×96 crops; ${first.faces.filter(Boolean).length}/${frames} frames with a face)`,
        baseline: `ffmpeg decode only, -threads 1: ${fmt(singleFps)} frames/s (default threads: ${fmt(autoFps)})`,
        ratio: ratio(trackFps, singleFps),
        ratioLabel: 'tracking / ffmpeg decode (1 thread)',
        checks: [{ label: 'frames/s', value: trackFps, op: '>=', limit: 25 }],
        figures: {
          frames_per_s: trackFps,
          seconds: t,
          frames,
          stage_seconds: { detect: stage('detect'), verify: stage('verify'), landmarks: stage('landmarks'), total: stage('total') },
          face_models: models.manifest.name,
          face_models_built_now: built.built,
        },
        baselineFigures: { ffmpeg_threads1_frames_per_s: singleFps, ffmpeg_threads1_seconds: single, ffmpeg_default_threads_frames_per_s: autoFps, ffmpeg_default_threads_seconds: auto },
        notes: [
          `GRID bbaf2n (360×288 MPEG-1, 3 s, 75 frames at 25 fps; GRID corpus, CC BY 4.0); medians of ${REPS} runs, interleaved`,
          `stage seconds (median): detector ${fmt(stage('detect'))}, face checks ${fmt(stage('verify'))}, landmarks ${fmt(stage('landmarks'))}, all ${fmt(stage('total'))}`,
        ],
      };
    } finally {
      await models.release();
    }
  },
};
