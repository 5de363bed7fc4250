import { TalkieError } from '@talkie/contracts';
import type { VideoProbe } from './probe';

/** What an upload may be, checked by the gateway before queueing and by the worker before decoding. */
export interface MediaLimits {
  maxDurationS: number;
  /** most streams of any kind (video, audio, subtitles, data) */
  maxStreams: number;
  /** largest frame, in pixels (width × height) */
  maxFramePixels: number;
  /**
   * most frames the first video stream may have: the container's count, or its duration × frame
   * rate where it keeps no count (see `frameCountOf`); workers also stop a decode past it
   */
  maxFrames: number;
}

/**
 * The source frame rate the default limits allow for (120 s × 120 fps = 14,400 frames): where a
 * worker bounds the frames of part of a video (a long video's window), this many per second.
 */
export const MAX_SOURCE_FPS = 120;

export const DEFAULT_MEDIA_LIMITS: MediaLimits = {
  maxDurationS: 120,
  maxStreams: 8,
  maxFramePixels: 3840 * 2160,
  maxFrames: 120 * MAX_SOURCE_FPS,
};

/** Throws the catalogue error for the first limit a probed file breaks. */
export function checkProbe(probe: VideoProbe, limits: MediaLimits): void {
  if (probe.video_streams < 1) throw new TalkieError('no_video_stream');
  if (probe.streams > limits.maxStreams) throw new TalkieError('too_many_streams');
  if (probe.width <= 0 || probe.height <= 0) throw new TalkieError('invalid_media');
  if (probe.width * probe.height > limits.maxFramePixels) throw new TalkieError('frame_too_large');
  if (!Number.isFinite(probe.duration_s) || probe.duration_s > limits.maxDurationS) throw new TalkieError('video_too_long');
  if (probe.frames > limits.maxFrames) throw new TalkieError('too_many_frames');
}
