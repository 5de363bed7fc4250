import { TalkieError, UPLOAD_EXTENSIONS, type UploadExtension } from '@talkie/contracts';

/** The container families the gateway recognises by their first bytes (sniff.ts). */
export type Container = 'isobmff' | 'matroska' | 'avi' | 'mpeg-ps';

/** The extensions accepted (the contract's list, no more, no less), and the container each must really be. */
export const CONTAINER_OF_EXTENSION: Record<UploadExtension, Container> & Record<string, Container | undefined> = {
  '.mp4': 'isobmff',
  '.mov': 'isobmff',
  '.webm': 'matroska',
  '.mkv': 'matroska',
  '.avi': 'avi',
  '.mpg': 'mpeg-ps',
  '.mpeg': 'mpeg-ps',
};

/**
 * A line anyone with ffmpeg can run to turn another video into one Talkie takes: video only (the
 * model reads no sound), H.264 in MP4, the pixel format every decoder reads.
 */
export const CONVERT_HINT = 'ffmpeg -i input.ext -an -c:v libx264 -pix_fmt yuv420p output.mp4';

/**
 * `unsupported_media_type` for an upload, saying what went wrong and what to do instead: the
 * accepted types and how to convert to one. A client cannot fix a 415 by sending the same file
 * again, so the answer must carry the next step.
 */
export function unsupportedUpload(reason: string): TalkieError {
  return new TalkieError('unsupported_media_type', {
    message: `${reason} Accepted: ${UPLOAD_EXTENSIONS.join(' ')}. To convert a video: ${CONVERT_HINT}`,
  });
}
