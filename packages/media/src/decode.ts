import type { ChildProcess } from 'node:child_process';
import type { PassThrough } from 'node:stream';
import ffmpeg from 'fluent-ffmpeg';
import { TalkieError } from '@talkie/contracts';
import { DEMUXER_ALLOW_LIST } from './probe';

/** Which part of each frame the model sees, in pixels of the decoded video. */
export type RoiFilter =
  /** scale the frame to `scale` first when given, then take the centred `width`×`height` */
  | { mode: 'center'; width: number; height: number; scale?: { width: number; height: number } }
  /** scale the whole frame to `width`×`height` */
  | { mode: 'full'; width: number; height: number };

export interface DecodeOptions {
  ffmpeg: string;
  /** the model's frame rate: the video is resampled to it, whatever the source's */
  fps: number;
  roi: RoiFilter;
  /** decoding stops with `video_too_long` past this many output frames (bounds memory) */
  maxFrames: number;
  /**
   * decoding stops with `too_many_frames` once the source has given the filters more than this
   * many frames (bounds CPU). The output cap cannot: the video is resampled to `fps` first, so
   * 110 s at 1000 fps is under 3,000 frames out for 110,000 decoded. What the probe estimated
   * does not bind this; it counts the frames ffmpeg really decodes (after a window's seek).
   * Unset: no cap.
   */
  maxSourceFrames?: number;
  timeoutMs: number;
  signal?: AbortSignal;
  /** called with the number of frames decoded so far, at most every `progressEveryFrames` */
  onFrames?: (frames: number) => void;
  progressEveryFrames?: number;
  /**
   * decode only this part of the input, in seconds (long videos, one window per job): input seeking
   * (`-ss` before `-i`) jumps to the keyframe before `startS` and decodes from there, exact to the
   * frame since the frames are re-encoded; output times restart at 0. No `durationS`: to the end.
   */
  window?: { startS: number; durationS?: number };
  /**
   * threads of one decode, for the decoder (`-threads`) and the filters (`-filter_threads`); unset
   * or 0: ffmpeg's choice (about one per core, each). Several workers on one machine scale better
   * with 1 each: their jobs then run side by side instead of contending.
   */
  threads?: number;
}

export interface DecodedFrames {
  /** `count` frames of `width`×`height` 8-bit grey pixels, row-major, frame after frame */
  pixels: Uint8Array;
  count: number;
  width: number;
  height: number;
  fps: number;
}

/**
 * The filter chain: resample to the model's rate first (dropping or repeating frames by their
 * timestamps, as `fps` does), then the region of interest, then grey. Cropping before the colour
 * conversion converts only the pixels the model sees (about 40% less CPU on 640×480 video);
 * `exact=1` keeps odd offsets exact despite chroma subsampling, so the frames are byte-identical to
 * converting first.
 */
export function buildVideoFilter(fps: number, roi: RoiFilter): string {
  const steps = [`fps=${fps}`];
  if (roi.mode === 'full') {
    steps.push(`scale=${roi.width}:${roi.height}:flags=area`);
  } else {
    if (roi.scale) steps.push(`scale=${roi.scale.width}:${roi.scale.height}:flags=area`);
    steps.push(`crop=${roi.width}:${roi.height}:(iw-${roi.width})/2:(ih-${roi.height})/2:exact=1`);
  }
  steps.push('format=gray');
  return steps.join(',');
}

/** The instance name of the filter that reports the first source frame past `maxSourceFrames`. */
const SOURCE_LIMIT_FILTER = 'showinfo@talkie_source_frame_limit';
/** Its report of that frame on ffmpeg's stderr: `[showinfo@talkie_source_frame_limit @ 0x…] n: …` */
const SOURCE_LIMIT_HIT = /\[showinfo@talkie_source_frame_limit @ [^\]]*\] n:/;

/**
 * `filter` with a counting branch beside it: `split` hands every source frame (references, not
 * copies) to `filter` and to a `trim` that lets through only the frame after the first
 * `maxSourceFrames`, which `showinfo` then reports on stderr; the decoder stops when it sees that.
 * `trim`, `showinfo` and `nullsink` take any pixel format, so the branch changes neither where
 * the filters convert nor a byte of the output (the tests check both pipelines).
 */
export function withSourceFrameLimit(filter: string, maxSourceFrames: number): string {
  const limit = Math.floor(maxSourceFrames);
  if (!(limit >= 0 && Number.isSafeInteger(limit))) throw new TalkieError('decode_failed', { message: 'Invalid source frame limit.' });
  return `split[talkie_frames][talkie_count];[talkie_count]trim=start_frame=${limit}:end_frame=${limit + 1},${SOURCE_LIMIT_FILTER},nullsink;[talkie_frames]${filter}`;
}

/**
 * Decodes the first video stream of a local file to grey frames at `fps`, cropped to the ROI.
 * ffmpeg runs without a shell, reads local files only, and is killed on timeout, abort, when the
 * output passes `maxFrames` or the source passes `maxSourceFrames`.
 */
export function decodeFrames(file: string, options: DecodeOptions): Promise<DecodedFrames> {
  const { width, height } = options.roi;
  const chunks: Buffer[] = [];
  let bytes = 0;
  return runRawDecode(file, options, {
    filter: buildVideoFilter(options.fps, options.roi),
    pixFmt: 'gray',
    frameBytes: width * height,
    demuxers: DEMUXER_ALLOW_LIST,
    onData: (chunk) => {
      chunks.push(chunk);
      bytes += chunk.length;
    },
  }).then((count) => {
    const pixels = Buffer.concat(chunks, bytes);
    return { pixels: new Uint8Array(pixels.buffer, pixels.byteOffset, count * width * height), count, width, height, fps: options.fps };
  });
}

export interface RgbStreamOptions extends Pick<DecodeOptions, 'ffmpeg' | 'fps' | 'maxFrames' | 'maxSourceFrames' | 'timeoutMs' | 'signal' | 'window'> {
  /** output size in pixels (see `boundedFrameSize`) */
  width: number;
  height: number;
  /**
   * demuxers ffmpeg may use; the upload allow-list by default. Operator tools reading their own
   * files may add more.
   */
  demuxers?: readonly string[];
}

/**
 * The size to decode a `width`×`height` video at so that its longer side is at most `maxSide`,
 * keeping the aspect ratio; even numbers, as most scalers prefer.
 */
export function boundedFrameSize(width: number, height: number, maxSide: number): { width: number; height: number } {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  const even = (v: number) => Math.max(2, 2 * Math.round((v * scale) / 2));
  return { width: even(width), height: even(height) };
}

/**
 * Decodes the first video stream to packed RGB frames (3 bytes per pixel) of `width`×`height` at
 * `fps`, handing each frame to `onFrame` in order as it arrives. The frame's buffer is only valid
 * during the call. While the promise `onFrame` returns is pending, ffmpeg's output is paused, so a
 * slow consumer (a face detector) bounds memory to one pipe's worth of frames, whatever the
 * video's length. Resolves with the number of frames.
 */
export function streamRgbFrames(
  file: string,
  options: RgbStreamOptions,
  onFrame: (rgb: Uint8Array, index: number) => void | Promise<void>,
): Promise<number> {
  const frameBytes = options.width * options.height * 3;
  let pending: Buffer = Buffer.alloc(0);
  let index = 0;
  return runRawDecode(file, options, {
    // fit inside width×height keeping the aspect ratio, centred: a video whose rotation ffmpeg
    // applies on decode (phones' portrait clips) comes out letterboxed, never squashed
    filter:
      `fps=${options.fps},scale=${options.width}:${options.height}:flags=area:force_original_aspect_ratio=decrease,` +
      `pad=${options.width}:${options.height}:(ow-iw)/2:(oh-ih)/2,format=rgb24`,
    pixFmt: 'rgb24',
    frameBytes,
    demuxers: options.demuxers ?? DEMUXER_ALLOW_LIST,
    onData: async (chunk) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      let offset = 0;
      while (pending.length - offset >= frameBytes) {
        const frame = new Uint8Array(pending.buffer, pending.byteOffset + offset, frameBytes);
        offset += frameBytes;
        await onFrame(frame, index++);
      }
      if (offset) pending = Buffer.from(pending.subarray(offset));
    },
  });
}

interface RawDecodeSpec {
  filter: string;
  pixFmt: string;
  frameBytes: number;
  demuxers: readonly string[];
  /** each chunk of raw output; a returned promise pauses ffmpeg's output until it settles */
  onData: (chunk: Buffer) => void | Promise<void>;
}

/**
 * Runs ffmpeg to raw frames of one pixel format and hands its output on; resolves with the number
 * of whole frames. No shell, local files only, killed on timeout, abort, past `maxFrames` or past
 * `maxSourceFrames`.
 */
function runRawDecode(
  file: string,
  options: Pick<DecodeOptions, 'ffmpeg' | 'maxFrames' | 'maxSourceFrames' | 'timeoutMs' | 'signal' | 'onFrames' | 'progressEveryFrames' | 'window' | 'threads'>,
  spec: RawDecodeSpec,
): Promise<number> {
  const { frameBytes } = spec;
  const maxBytes = options.maxFrames * frameBytes;
  const progressEvery = options.progressEveryFrames ?? 25;
  const sourceCap = options.maxSourceFrames !== undefined && Number.isFinite(options.maxSourceFrames);
  const filter = sourceCap ? withSourceFrameLimit(spec.filter, options.maxSourceFrames!) : spec.filter;

  return new Promise<number>((resolve, reject) => {
    let bytes = 0;
    let lastReported = 0;
    let failure: TalkieError | undefined;
    let settled = false;
    let consuming: Promise<void> = Promise.resolve();

    const command = ffmpeg(file)
      .setFfmpegPath(options.ffmpeg)
      .inputOptions([
        '-nostdin',
        // the source-frame cap reads showinfo's report, logged at the info level (ffmpeg's default)
        ...(sourceCap ? ['-loglevel', 'info'] : []),
        '-protocol_whitelist', 'file',
        '-format_whitelist', spec.demuxers.join(','),
        ...windowArgs(options.window),
        ...threadArgs(options.threads),
      ])
      .outputOptions([
        '-map', '0:v:0',
        '-an', '-sn', '-dn',
        // the rawvideo "encoder" only copies frames: with ffmpeg's default it got a frame thread per
        // core all the same, and a hand-off per frame to each
        '-threads', '1',
        // write 32-KiB blocks, not each frame as it comes (ffmpeg flushes every packet on a pipe):
        // 60 writes instead of 250 for a 10-s clip of 88×88 frames, so this process wakes up to read
        // a quarter as often while ffmpeg decodes beside it
        '-flush_packets', '0',
        '-vf', filter,
        '-pix_fmt', spec.pixFmt,
        '-f', 'rawvideo',
      ]);

    let running = false;
    const stop = (error: TalkieError) => {
      if (failure) return;
      failure = error;
      // fluent-ffmpeg's kill() does nothing before the process exists (its capability checks delay
      // the spawn); the 'start' handler below kills it as soon as it does.
      if (running) command.kill('SIGKILL');
    };
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (failure) return reject(failure);
      if (err) return reject(new TalkieError('decode_failed', { cause: err }));
      // ffmpeg has exited, but a paused consumer may not have seen the last chunks yet: wait for the
      // output's end, then for the consumer to finish with them
      outputEnded
        .then(() => consuming)
        .then(
          () => (failure ? reject(failure) : resolve(Math.floor(bytes / frameBytes))),
          (consumerError: unknown) => reject(failure ?? consumerError),
        );
    };

    const timer = setTimeout(() => stop(new TalkieError('timeout', { retryable: true })), options.timeoutMs);
    const onAbort = () => stop(new TalkieError('processing_failed', { message: 'Processing was aborted.' }));
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });

    command.on('start', () => {
      running = true;
      if (failure) command.kill('SIGKILL');
    });
    command.on('error', (err: Error) => {
      // fluent-ffmpeg gives up 20 ms after the output pipe closes if it has not yet seen ffmpeg
      // exit, which under load happens after a complete decode ("Output stream closed"): ffmpeg's
      // own exit status says whether it finished.
      const proc = (command as unknown as { ffmpegProc?: ChildProcess }).ffmpegProc;
      if (!failure && proc && /Output stream closed/.test(err.message)) {
        if (proc.exitCode !== null || proc.signalCode !== null) return finish(proc.exitCode === 0 ? undefined : err);
        proc.once('exit', (code) => finish(code === 0 ? undefined : err));
        return;
      }
      finish(err);
    });
    command.on('end', () => finish());
    if (sourceCap) {
      command.on('stderr', (line: string) => {
        if (SOURCE_LIMIT_HIT.test(line)) stop(new TalkieError('too_many_frames'));
      });
    }

    const output = command.pipe() as PassThrough;
    const outputEnded = new Promise<void>((resolveEnd) => {
      output.once('end', resolveEnd);
      output.once('close', resolveEnd);
    });
    output.on('data', (chunk: Buffer) => {
      if (failure) return;
      bytes += chunk.length;
      if (bytes > maxBytes) {
        stop(new TalkieError('video_too_long'));
        return;
      }
      const handled = spec.onData(chunk);
      if (handled) {
        output.pause();
        consuming = consuming.then(() => handled).then(
          () => {
            output.resume();
          },
          (consumerError: unknown) => {
            if (consumerError instanceof TalkieError) stop(consumerError);
            else stop(new TalkieError('processing_failed', { cause: consumerError }));
            output.resume(); // drain what is left so ffmpeg can exit
            throw consumerError;
          },
        );
        consuming.catch(() => undefined); // reported through `failure`; never an unhandled rejection
      }
      const frames = Math.floor(bytes / frameBytes);
      if (options.onFrames && frames - lastReported >= progressEvery) {
        lastReported = frames;
        options.onFrames(frames);
      }
    });
  });
}

/**
 * fluent-ffmpeg asks ffmpeg for its formats and encoders before the first command of a process,
 * then keeps the answer: asking at start spares the first job two extra ffmpeg runs (about 120 ms
 * here), and an ffmpeg that cannot even list them stops the start rather than failing jobs.
 */
export async function warmUpFfmpeg(ffmpegPath: string): Promise<void> {
  const command = ffmpeg().setFfmpegPath(ffmpegPath);
  await new Promise<void>((resolve, reject) => command.availableFormats((err) => (err ? reject(err) : resolve())));
  await new Promise<void>((resolve, reject) => command.availableEncoders((err) => (err ? reject(err) : resolve())));
}

/**
 * `-threads` alone leaves the filters (fps, crop, grey) on ffmpeg's default of a slice thread per
 * core: for an 88×88 crop that is a hand-off per frame. With both, and one output thread (see
 * runRawDecode), a 10-s clip decodes with 1 voluntary context switch instead of about 1,000, and
 * the CPU no longer idles through those waits when two workers share two cores.
 */
function threadArgs(threads: number | undefined): string[] {
  return threads ? ['-threads', String(threads), '-filter_threads', String(threads)] : [];
}

/** `-ss`/`-t` input options for a window; numbers as plain decimals (never exponent notation). */
function windowArgs(window: DecodeOptions['window']): string[] {
  if (!window) return [];
  const seconds = (s: number) => {
    if (!(Number.isFinite(s) && s >= 0)) throw new TalkieError('decode_failed', { message: 'Invalid decode window.' });
    return s.toFixed(6);
  };
  return ['-ss', seconds(window.startS), ...(window.durationS !== undefined ? ['-t', seconds(window.durationS)] : [])];
}
