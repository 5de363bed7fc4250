import { z } from 'zod';

/** The ffmpeg and talkie-probe locations that `resolveFfmpeg` and `residentProberPath` read. */
export interface MediaPathsEnv {
  FFMPEG_PATH?: string;
  FFPROBE_PATH?: string;
  TALKIE_PROBE_PATH?: string;
}

/**
 * The media package's settings, owned here and merged into the config schema of each service
 * that runs ffmpeg or ffprobe (gateway, worker; issue 19), so they are validated with the rest at
 * start. The parsed config is what `resolveCheckedFfmpeg({ env: config })` and
 * `residentProberPath(config)` read. Use with `checkMediaEnv` for the rule that spans two keys.
 */
export const MediaEnv = {
  /** ffmpeg and ffprobe to run, both or neither; unset: the system's (on PATH), then an npm-shipped build */
  FFMPEG_PATH: z.string().optional(),
  FFPROBE_PATH: z.string().optional(),
  /** the talkie-probe helper; unset: the one `npm run build` compiled (packages/media/native/build) */
  TALKIE_PROBE_PATH: z.string().optional(),
};

/** The rule of `MediaEnv` that spans keys, for the service schema's `superRefine`. */
export function checkMediaEnv(env: MediaPathsEnv, ctx: z.RefinementCtx): void {
  if (Boolean(env.FFMPEG_PATH) !== Boolean(env.FFPROBE_PATH)) {
    ctx.addIssue({ code: 'custom', path: [env.FFMPEG_PATH ? 'FFPROBE_PATH' : 'FFMPEG_PATH'], message: 'set both FFMPEG_PATH and FFPROBE_PATH, or neither' });
  }
}
