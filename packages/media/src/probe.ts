import { execFile } from 'node:child_process';
import { TalkieError, type VideoProbe } from '@talkie/contracts';

/** the shape lives in @talkie/contracts: the gateway records it and workers read it back */
export type { VideoProbe };

export interface ProbeOptions {
  ffprobe: string;
  timeoutMs?: number;
  /** demuxers ffprobe may use; the upload allow-list by default (operator tools may add e.g. `mpeg`) */
  demuxers?: readonly string[];
}

/**
 * The only demuxers ffprobe and ffmpeg may use on uploads: MP4/MOV, Matroska/WebM, AVI and MPEG
 * program streams (`mpeg`: `.mpg`, MPEG-1 system streams included; the GRID corpus's format).
 * Playlists (HLS), concat scripts, image sequences and MPEG transport streams (`mpegts`) are
 * refused by the demuxer itself, whatever the file's name.
 */
export const DEMUXER_ALLOW_LIST = ['mov', 'matroska', 'webm', 'avi', 'mpeg'] as const;

/**
 * What operator tools on the operator's own files may read (`npm run roi`, the bench, the GRID
 * tests). Since uploads may be MPEG-PS too, the same list as uploads: one name for it, so that an
 * operator-only format has one place to go should one ever be needed.
 */
export const OPERATOR_DEMUXERS = DEMUXER_ALLOW_LIST;

/** `30000/1001` → 29.97; `0/0` → 0 */
export function parseRate(rate: string | undefined): number {
  if (!rate) return 0;
  const [num, den] = rate.split('/').map(Number);
  if (!Number.isFinite(num) || !Number.isFinite(den) || den === 0) return 0;
  return num / den;
}

interface FfprobeJson {
  format?: { format_name?: string; duration?: string };
  streams?: Array<{
    codec_type?: string;
    codec_name?: string;
    width?: number;
    height?: number;
    avg_frame_rate?: string;
    r_frame_rate?: string;
    duration?: string;
    nb_frames?: string;
  }>;
}

/** What both probers report, in ffprobe's own spelling (numbers as the strings ffprobe prints). */
export interface ProbeFields {
  format_name?: string;
  /** the container's duration, e.g. "10.000000" */
  duration?: string;
  streams: number;
  video_streams: number;
  /** the first video stream */
  video?: Pick<NonNullable<FfprobeJson['streams']>[number], 'codec_name' | 'width' | 'height' | 'avg_frame_rate' | 'r_frame_rate' | 'duration' | 'nb_frames'>;
}

/** A duration as ffprobe prints it ("10.000000", "N/A", absent): seconds, or NaN when unknown. */
const seconds = (value: string | undefined): number => (value === undefined || value === '' ? NaN : Number(value));

/**
 * The video stream's frame count: the container's own count where it keeps one (MP4/MOV's sample
 * table, AVI's index), else an estimate of the longest declared duration (container or stream)
 * times the higher of `r_frame_rate` and `avg_frame_rate`. Matroska/WebM keep no count (ffprobe
 * prints `nb_frames=N/A`), and reading 0 there let any number of frames through `MAX_FRAMES`.
 * Both rates come from the packets the probe read and the duration from the header, so a file can
 * still hold more than this says (a variable rate that rises later, a header that lies about the
 * duration, no duration at all): the decoder's own source-frame cap (`maxSourceFrames` in
 * decode.ts) is what bounds those. 0 when neither a count nor a duration and a rate are known.
 */
export function frameCountOf(fields: ProbeFields): number {
  const video = fields.video;
  const counted = Number(video?.nb_frames);
  if (Number.isFinite(counted) && counted > 0) return Math.floor(counted);
  const durations = [seconds(fields.duration), seconds(video?.duration)].filter((d) => Number.isFinite(d) && d > 0);
  const rate = Math.max(parseRate(video?.r_frame_rate), parseRate(video?.avg_frame_rate));
  if (!durations.length || !(Number.isFinite(rate) && rate > 0)) return 0;
  // a hair under each whole frame, so that 3.000000 s × 25 fps is 75 frames, not 76
  return Math.max(0, Math.ceil(Math.max(...durations) * rate - 1e-6));
}

/** The one reading of probe fields into a VideoProbe, whichever prober produced them. */
export function videoProbeOf(fields: ProbeFields): VideoProbe {
  const video = fields.video;
  if (!video || fields.video_streams < 1) throw new TalkieError('no_video_stream');
  const duration = Number(fields.duration ?? video.duration ?? NaN);
  return {
    format: fields.format_name ?? 'unknown',
    duration_s: Number.isFinite(duration) ? duration : 0,
    width: video.width ?? 0,
    height: video.height ?? 0,
    fps: parseRate(video.avg_frame_rate) || parseRate(video.r_frame_rate),
    codec: video.codec_name ?? 'unknown',
    video_streams: fields.video_streams,
    streams: fields.streams,
    frames: frameCountOf(fields),
  };
}

/**
 * Reads a file's container and first video stream with ffprobe: no shell, local files only
 * (`-protocol_whitelist file`, so a playlist cannot make it fetch anything), killed after the timeout.
 */
export function probeVideo(file: string, options: ProbeOptions): Promise<VideoProbe> {
  const args = [
    '-v', 'error',
    '-protocol_whitelist', 'file',
    '-format_whitelist', (options.demuxers ?? DEMUXER_ALLOW_LIST).join(','),
    '-print_format', 'json',
    '-show_format', '-show_streams',
    file,
  ];
  return new Promise((resolve, reject) => {
    execFile(
      options.ffprobe,
      args,
      { timeout: options.timeoutMs ?? 15_000, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024 },
      (err, stdout) => {
        if (err) {
          const timedOut = (err as NodeJS.ErrnoException & { killed?: boolean }).killed;
          reject(new TalkieError(timedOut ? 'timeout' : 'invalid_media', { cause: err, retryable: Boolean(timedOut) }));
          return;
        }
        let parsed: FfprobeJson;
        try {
          parsed = JSON.parse(stdout) as FfprobeJson;
        } catch (cause) {
          reject(new TalkieError('invalid_media', { cause }));
          return;
        }
        const streams = parsed.streams ?? [];
        const videos = streams.filter((s) => s.codec_type === 'video');
        try {
          resolve(videoProbeOf({ format_name: parsed.format?.format_name, duration: parsed.format?.duration, streams: streams.length, video_streams: videos.length, video: videos[0] }));
        } catch (e) {
          reject(e);
        }
      },
    );
  });
}
