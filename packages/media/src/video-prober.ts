import path from 'node:path';
import type { VideoProbe } from '@talkie/contracts';
import { isExecutable, type FfmpegBinaries } from './binaries';
import { probeVideo } from './probe';
import { ProberUnavailableError, ResidentProber } from './resident-prober';
import type { MediaPathsEnv } from './settings';

/** How a service looks inside uploads. */
export interface VideoProber {
  /** `resident`: talkie-probe, forking per file; `ffprobe`: one ffprobe process per file */
  readonly kind: 'resident' | 'ffprobe';
  probe(file: string, options?: { timeoutMs?: number }): Promise<VideoProbe>;
  close(): Promise<void>;
}

/** `auto`: the resident prober when it is built for the ffmpeg in use, else ffprobe. */
export const PROBER_MODES = ['auto', 'resident', 'ffprobe'] as const;
export type ProberMode = (typeof PROBER_MODES)[number];

export interface VideoProberOptions {
  binaries: Pick<FfmpegBinaries, 'ffprobe' | 'version' | 'source'>;
  mode?: ProberMode;
  demuxers?: readonly string[];
  /** default per-probe limit */
  timeoutMs?: number;
  /** where talkie-probe is; `TALKIE_PROBE_PATH` or the one `npm run build` compiled by default */
  residentPath?: string;
  /** start-up notes and fallbacks, for the service's logger */
  log?: (level: 'info' | 'warn', message: string) => void;
}

/** Where `npm run build` puts the helper (packages/media/native/build), unless TALKIE_PROBE_PATH says otherwise. */
export function residentProberPath(env: MediaPathsEnv = process.env): string {
  return env.TALKIE_PROBE_PATH || path.resolve(__dirname, '..', 'native', 'build', 'talkie-probe');
}

/** Only ever ffprobe: one process per file. */
export function ffprobeProber(options: Pick<VideoProberOptions, 'binaries' | 'demuxers' | 'timeoutMs'>): VideoProber {
  return {
    kind: 'ffprobe',
    probe: (file, o) => probeVideo(file, { ffprobe: options.binaries.ffprobe, timeoutMs: o?.timeoutMs ?? options.timeoutMs, demuxers: options.demuxers }),
    close: () => Promise.resolve(),
  };
}

/** Seconds to wait before starting a helper again after it went away, so a crash loop costs little. */
const RESTART_AFTER_MS = 5_000;

/**
 * The resident prober with ffprobe behind it: if the helper goes away, the probes it held and
 * those that come before it is back run under ffprobe, so no upload fails because of the helper.
 */
class ResidentWithFallback implements VideoProber {
  readonly kind = 'resident';
  private current: ResidentProber;
  private restarting?: Promise<void>;
  private lostAt = 0;
  private closed = false;

  constructor(
    first: ResidentProber,
    private readonly binary: string,
    private readonly options: VideoProberOptions,
    private readonly fallback: VideoProber,
  ) {
    this.current = first;
  }

  async probe(file: string, o?: { timeoutMs?: number }): Promise<VideoProbe> {
    const timeoutMs = o?.timeoutMs ?? this.options.timeoutMs;
    if (!this.current.available) this.restart();
    if (this.current.available) {
      try {
        return await this.current.probe(file, timeoutMs);
      } catch (err) {
        if (!(err instanceof ProberUnavailableError)) throw err;
        this.options.log?.('warn', `resident prober unavailable (${err.message}); probing this file with ffprobe`);
        this.lostAt = Date.now();
      }
    }
    return this.fallback.probe(file, { timeoutMs });
  }

  private restart(): void {
    if (this.closed || this.restarting || Date.now() - this.lostAt < RESTART_AFTER_MS) return;
    this.restarting = ResidentProber.start(this.binary, { demuxers: this.options.demuxers })
      .then((p) => {
        if (this.closed) return void p.close();
        this.current = p;
        this.options.log?.('info', 'resident prober restarted');
      })
      .catch((err: Error) => {
        this.lostAt = Date.now();
        this.options.log?.('warn', `resident prober could not be restarted: ${err.message}`);
      })
      .finally(() => {
        this.restarting = undefined;
      });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.restarting;
    await this.current.close();
  }
}

/**
 * Chooses how uploads are probed. `auto` takes the resident prober when the service runs the
 * system's ffmpeg (not FFPROBE_PATH's or an npm-shipped one) and the helper is built and loaded the
 * libavformat of that same release (so gateway and worker read files with one libavformat), and
 * says why when it does not; `resident` insists (start-up fails without it); `ffprobe` never
 * starts it.
 */
export async function createVideoProber(options: VideoProberOptions): Promise<VideoProber> {
  const mode = options.mode ?? 'auto';
  const fallback = ffprobeProber(options);
  if (mode === 'ffprobe') {
    options.log?.('info', 'probing uploads with ffprobe, one process per file (PROBER=ffprobe)');
    return fallback;
  }
  const binary = options.residentPath ?? residentProberPath();
  const useFfprobe = (why: string) => {
    options.log?.('info', `probing uploads with ffprobe, one process per file: ${why}`);
    return fallback;
  };
  // FFPROBE_PATH names the build to parse uploads with: auto honours that choice.
  if (mode === 'auto' && options.binaries.source !== 'system') {
    return useFfprobe(`ffprobe was chosen explicitly (${options.binaries.source === 'env' ? 'FFPROBE_PATH' : 'the npm-shipped build'}); talkie-probe serves the system's ffmpeg only`);
  }
  if (!isExecutable(binary)) {
    if (mode === 'resident') throw new Error(`PROBER=resident, but ${binary} is not there: build it with \`npm run build\` (needs cc and libavformat-dev) or set TALKIE_PROBE_PATH`);
    return useFfprobe(`the resident prober is not built (${binary}; \`npm run build\` builds it where cc and libavformat-dev are installed)`);
  }
  let resident: ResidentProber;
  try {
    resident = await ResidentProber.start(binary, { demuxers: options.demuxers });
  } catch (err) {
    if (mode === 'resident') throw err;
    return useFfprobe(`the resident prober did not start (${(err as Error).message})`);
  }
  const v = options.binaries;
  if (resident.ffmpegVersion !== v.version) {
    const why = `talkie-probe loaded libavformat from ffmpeg ${resident.ffmpegVersion}, while ${v.ffprobe} is ffmpeg ${v.version}`;
    if (mode === 'auto') {
      await resident.close();
      return useFfprobe(why);
    }
    options.log?.('warn', `${why}; using talkie-probe anyway (PROBER=resident)`);
  }
  options.log?.('info', `probing uploads with the resident prober (talkie-probe, libavformat of ffmpeg ${resident.ffmpegVersion}, a fresh process per file)`);
  return new ResidentWithFallback(resident, binary, options, fallback);
}
