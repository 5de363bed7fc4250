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
  timeoutMs: number;
  signal?: AbortSignal;
  /** called with the number of frames decoded so far, at most every `progressEveryFrames` */
  onFrames?: (frames: number) => void;
  progressEveryFrames?: number;
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

/**
 * Decodes the first video stream of a local file to grey frames at `fps`, cropped to the ROI.
 * ffmpeg runs without a shell, reads local files only, and is killed on timeout, abort, or when
 * the output passes `maxFrames`.
 */
export function decodeFrames(file: string, options: DecodeOptions): Promise<DecodedFrames> {
  const { width, height } = options.roi;
  const frameBytes = width * height;
  const maxBytes = options.maxFrames * frameBytes;
  const progressEvery = options.progressEveryFrames ?? 25;

  return new Promise<DecodedFrames>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let lastReported = 0;
    let failure: TalkieError | undefined;
    let settled = false;

    const command = ffmpeg(file)
      .setFfmpegPath(options.ffmpeg)
      .inputOptions(['-nostdin', '-protocol_whitelist', 'file', '-format_whitelist', DEMUXER_ALLOW_LIST.join(',')])
      .outputOptions([
        '-map', '0:v:0',
        '-an', '-sn', '-dn',
        '-vf', buildVideoFilter(options.fps, options.roi),
        '-pix_fmt', 'gray',
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
      const pixels = Buffer.concat(chunks, bytes);
      const count = Math.floor(bytes / frameBytes);
      resolve({ pixels: new Uint8Array(pixels.buffer, pixels.byteOffset, count * frameBytes), count, width, height, fps: options.fps });
    };

    const timer = setTimeout(() => stop(new TalkieError('timeout', { retryable: true })), options.timeoutMs);
    const onAbort = () => stop(new TalkieError('processing_failed', { message: 'Processing was aborted.' }));
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });

    command.on('start', () => {
      running = true;
      if (failure) command.kill('SIGKILL');
    });
    command.on('error', (err: Error) => finish(err));
    command.on('end', () => finish());

    const output = command.pipe();
    output.on('data', (chunk: Buffer) => {
      if (failure) return;
      bytes += chunk.length;
      if (bytes > maxBytes) {
        stop(new TalkieError('video_too_long'));
        return;
      }
      chunks.push(chunk);
      const frames = Math.floor(bytes / frameBytes);
      if (options.onFrames && frames - lastReported >= progressEvery) {
        lastReported = frames;
        options.onFrames(frames);
      }
    });
  });
}
