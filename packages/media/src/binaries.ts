import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { MediaPathsEnv } from './settings';

const execFileAsync = promisify(execFile);

export interface FfmpegBinaries {
  ffmpeg: string;
  ffprobe: string;
  /** where they came from, for the start-up log */
  source: 'env' | 'system' | 'npm';
  /** e.g. "5.1.9-0+deb12u1" */
  version: string;
  major: number;
  /** set when the binaries are usable but not recommended */
  warning?: string;
}

/** Talkie relies on ffmpeg ≥ 5 behaviour (fps filter rounding, protocol whitelists). */
export const MIN_SYSTEM_FFMPEG_MAJOR = 5;

export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export async function ffmpegVersion(ffmpegPath: string): Promise<{ version: string; major: number }> {
  const { stdout } = await execFileAsync(ffmpegPath, ['-hide_banner', '-version'], { timeout: 10_000 });
  const match = /ffmpeg version (\S+)/.exec(stdout);
  if (!match) throw new Error(`${ffmpegPath} does not look like ffmpeg`);
  // Releases read "5.1.9-0+deb12u1" or "n6.1"; git snapshots "N-47683-g0e8eb07980": no major (0).
  const major = /^n?(\d+)\./.exec(match[1]);
  return { version: match[1], major: major ? Number(major[1]) : 0 };
}

function fromNpmPackages(): { ffmpeg: string; ffprobe: string } | undefined {
  try {
    // Optional dependencies: absent on platforms they do not ship for, or when omitted at install.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ffmpeg = (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ffprobe = (require('@ffprobe-installer/ffprobe') as { path: string }).path;
    return { ffmpeg, ffprobe };
  } catch {
    return undefined;
  }
}

/**
 * Finds ffmpeg and ffprobe: `FFMPEG_PATH`/`FFPROBE_PATH` first, then the system's (version 5 or
 * later, or `options.minMajor`), then the builds shipped in npm packages as a last resort (old
 * builds: a warning says so). Whether the found build may run is `checkFfmpegVersion`'s call.
 */
export async function resolveFfmpeg(env: MediaPathsEnv = process.env, options: { minMajor?: number } = {}): Promise<FfmpegBinaries> {
  const minSystemMajor = options.minMajor ?? MIN_SYSTEM_FFMPEG_MAJOR;
  if (env.FFMPEG_PATH || env.FFPROBE_PATH) {
    if (!env.FFMPEG_PATH || !env.FFPROBE_PATH) {
      throw new Error('set both FFMPEG_PATH and FFPROBE_PATH, or neither');
    }
    const { version, major } = await ffmpegVersion(env.FFMPEG_PATH);
    return { ffmpeg: env.FFMPEG_PATH, ffprobe: env.FFPROBE_PATH, source: 'env', version, major };
  }
  const systemFfmpeg = onPath('ffmpeg');
  const systemFfprobe = onPath('ffprobe');
  let systemNote = 'no ffmpeg/ffprobe on PATH';
  if (systemFfmpeg && systemFfprobe) {
    const { version, major } = await ffmpegVersion(systemFfmpeg);
    if (major >= minSystemMajor) {
      return { ffmpeg: systemFfmpeg, ffprobe: systemFfprobe, source: 'system', version, major };
    }
    systemNote = `system ffmpeg ${version} is older than ${minSystemMajor}`;
  }
  const shipped = fromNpmPackages();
  if (shipped) {
    const { version, major } = await ffmpegVersion(shipped.ffmpeg);
    return {
      ...shipped,
      source: 'npm',
      version,
      major,
      warning:
        `${systemNote}; using the ffmpeg ${version} build shipped in an npm package. ` +
        'Those builds are old and unpatched: install a maintained ffmpeg (e.g. apt-get install ffmpeg) ' +
        'or set FFMPEG_PATH and FFPROBE_PATH.',
    };
  }
  throw new Error(`${systemNote}, and no npm-shipped build is installed: install ffmpeg (apt-get install ffmpeg) or set FFMPEG_PATH and FFPROBE_PATH`);
}

/** What the start-up gate made of an ffmpeg build. */
export interface FfmpegVersionCheck {
  /** ok: recent enough; warning: too old but explicitly allowed; error: refuse to start */
  level: 'ok' | 'warning' | 'error';
  message: string;
}

/**
 * The start-up policy on ffmpeg versions: builds older than `minMajor` are refused unless
 * `allowOld` (FFMPEG_ALLOW_OLD=true) says to run them anyway, with a warning. Builds whose version
 * has no major number (git snapshots such as "N-47683-g0e8eb07980", read as major 0) cannot be
 * shown to be recent, so they count as older. ffmpeg parses untrusted uploads: old builds carry
 * known, fixed demuxer and decoder bugs.
 */
export function checkFfmpegVersion(
  binaries: Pick<FfmpegBinaries, 'ffmpeg' | 'version' | 'major'>,
  minMajor: number,
  allowOld: boolean,
): FfmpegVersionCheck {
  if (binaries.major >= minMajor && binaries.major > 0) {
    return { level: 'ok', message: `ffmpeg ${binaries.version} meets the minimum major version ${minMajor}` };
  }
  const what =
    binaries.major > 0
      ? `ffmpeg ${binaries.version} (${binaries.ffmpeg}) is older than the minimum major version ${minMajor} (FFMPEG_MIN_MAJOR)`
      : `ffmpeg ${binaries.version} (${binaries.ffmpeg}) has no release version number (a git snapshot or unknown build), ` +
        `so it cannot be shown to meet the minimum major version ${minMajor} (FFMPEG_MIN_MAJOR)`;
  if (allowOld) {
    return {
      level: 'warning',
      message: `${what}; running it anyway because FFMPEG_ALLOW_OLD=true. Old ffmpeg builds have known, fixed security bugs: upgrade ffmpeg.`,
    };
  }
  return {
    level: 'error',
    message:
      `${what}. Install ffmpeg ${minMajor} or later (e.g. apt-get install ffmpeg on Debian 12) or point FFMPEG_PATH and FFPROBE_PATH at one; ` +
      'to run this build anyway, set FFMPEG_ALLOW_OLD=true (not recommended).',
  };
}

export interface FfmpegGateOptions {
  /** FFMPEG_MIN_MAJOR */
  minMajor: number;
  /** FFMPEG_ALLOW_OLD */
  allowOld: boolean;
  /** FFMPEG_PATH / FFPROBE_PATH: the service's parsed config (`MediaEnv`); unset: process.env */
  env?: MediaPathsEnv;
  /** where the warnings go (the service's logger), with fields for structured logs */
  warn: (message: string, fields?: Record<string, unknown>) => void;
}

/**
 * What every service that runs ffmpeg or ffprobe on uploads does at start, the gateway (which
 * probes them) as much as the worker (which decodes them): find the binaries (`resolveFfmpeg`)
 * and apply the version policy (`checkFfmpegVersion`). Throws the refusal, for the service to
 * print and exit non-zero; warns about an npm-shipped build and about an old one let through by
 * `allowOld`.
 */
export async function resolveCheckedFfmpeg(options: FfmpegGateOptions): Promise<FfmpegBinaries> {
  const binaries = await resolveFfmpeg(options.env ?? process.env, { minMajor: options.minMajor });
  if (binaries.warning) options.warn(binaries.warning);
  const gate = checkFfmpegVersion(binaries, options.minMajor, options.allowOld);
  if (gate.level === 'error') throw new Error(gate.message);
  if (gate.level === 'warning') options.warn(gate.message, { ffmpeg: binaries.version, min_major: options.minMajor });
  return binaries;
}
