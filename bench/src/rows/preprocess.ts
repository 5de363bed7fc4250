import { demoManifest } from '@talkie/demo-model';
import { normalizeFrames, roiFilterFor } from '@talkie/inference';
import { decodeFrames } from '@talkie/media';
import { fmt, median, ratio } from '../report';
import { ffmpegNull, timed } from '../timing';
import type { RowSpec } from './types';

const REPS = 5;

/**
 * Row 5: Talkie's preprocessing (decodeFrames: decode, resample to the model's 25 fps, grey, centre
 * ROI; then normalisation to floats) against plain ffmpeg decoding the same file to nothing.
 * Both are counted in source frames decoded per second, the work they share.
 */
export const preprocessRow: RowSpec = {
  id: 5,
  name: 'preprocessing',
  target: '≥ 0.7 of ffmpeg -threads 1',
  async run(ctx) {
    const clip = await ctx.clip();
    const manifest = demoManifest();
    const roi = roiFilterFor(manifest);
    const talkie = () =>
      decodeFrames(clip.file, { ffmpeg: ctx.ffmpeg.ffmpeg, fps: manifest.frame_rate, roi, maxFrames: 100_000, timeoutMs: 120_000 }).then((frames) => {
        normalizeFrames(frames.pixels, manifest.normalize);
        return frames;
      });
    const decodeOnly = (threads?: number) => ffmpegNull(ctx.ffmpeg.ffmpeg, clip.file, { threads });

    const first = await talkie(); // warm: page cache, fluent-ffmpeg's capability checks
    await decodeOnly(1);
    const t: number[] = [];
    const single: number[] = [];
    const auto: number[] = [];
    for (let i = 0; i < REPS; i++) {
      t.push((await timed(talkie)).seconds);
      single.push((await timed(() => decodeOnly(1))).seconds);
      auto.push((await timed(() => decodeOnly())).seconds);
    }
    const talkieFps = clip.frames / median(t);
    const singleFps = clip.frames / median(single);
    const autoFps = clip.frames / median(auto);
    const r = ratio(talkieFps, singleFps);
    return {
      talkie: `${fmt(talkieFps)} frames/s (decode+25 fps+grey+88×88 ROI+normalize; ${first.count} frames out)`,
      baseline: `ffmpeg -threads 1 -f null: ${fmt(singleFps)} frames/s (default threads: ${fmt(autoFps)})`,
      ratio: r,
      ratioLabel: 'Talkie / ffmpeg 1 thread',
      checks: [{ label: 'frames/s ratio', value: r, op: '>=', limit: 0.7 }],
      figures: { frames_per_s: talkieFps, seconds: t, source_frames: clip.frames, output_frames: first.count, filter: `fps=${manifest.frame_rate},gray,crop 88x88` },
      baselineFigures: { ffmpeg_threads1_frames_per_s: singleFps, ffmpeg_threads1_seconds: single, ffmpeg_default_threads_frames_per_s: autoFps, ffmpeg_default_threads_seconds: auto },
      notes: [
        `ratio against ffmpeg with its default threading (as decodeFrames runs it): ${fmt(ratio(talkieFps, autoFps))}`,
        `640×480 H.264 testsrc2 clip, 20 s at 30 fps (600 source frames); medians of ${REPS} runs each, interleaved`,
      ],
    };
  },
};
