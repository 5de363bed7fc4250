import { TalkieError } from '@talkie/contracts';
import type { VideoProbe } from './probe';

/** What an upload may be, checked by the gateway before queueing and by the worker before decoding. */
export interface MediaLimits {
  maxDurationS: number;
  /** most streams of any kind (video, audio, subtitles, data) */
  maxStreams: number;
  /** largest frame, in pixels (width × height) */
  maxFramePixels: number;
  /** most frames the container may declare */
  maxFrames: number;
}

export const DEFAULT_MEDIA_LIMITS: MediaLimits = {
  maxDurationS: 120,
  maxStreams: 8,
  maxFramePixels: 3840 * 2160,
  maxFrames: 120 * 120,
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
