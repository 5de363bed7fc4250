import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { TalkieError } from '@talkie/contracts';

/**
 * The error `promise` rejects with, checked to be a `type` (TalkieError unless told); a promise that
 * resolves fails the test. Shared by the media tests (not public API).
 */
export async function rejection<E extends Error = TalkieError>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => E = TalkieError as unknown as abstract new (...args: never[]) => E,
): Promise<E> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(type);
    return err as E;
  }
  throw new Error('expected a rejection');
}

/**
 * A test video of `seconds` at a declared `fps` (black frames, 64×48 unless `size` says, so high
 * rates stay small and quick to make), encoded by the container `out` names: H.264 in .mkv/.mp4,
 * VP8 in .webm.
 * `setpts`: an expression for variable frame timing (frames are then written as they are timed);
 * `piped`: written through a pipe, so a Matroska muxer cannot go back to write the duration (as a
 * browser's MediaRecorder leaves it). Shared by the media tests and test/ (not public API).
 */
export function encodeTestVideo(
  ffmpeg: string,
  out: string,
  video: { fps: number; seconds: number; size?: string; setpts?: string; piped?: boolean },
): void {
  const webm = out.endsWith('.webm');
  const args = [
    '-v', 'error', '-y',
    '-t', String(video.seconds),
    '-f', 'lavfi', '-i', `color=c=black:s=${video.size ?? '64x48'}:r=${video.fps}`,
    ...(video.setpts ? ['-vf', `setpts='${video.setpts}'`, '-fps_mode', 'vfr'] : []),
    ...(webm ? ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '50k'] : ['-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '51']),
  ];
  if (!video.piped) {
    execFileSync(ffmpeg, [...args, out]);
    return;
  }
  const bytes = execFileSync(ffmpeg, [...args, '-f', webm ? 'webm' : 'matroska', 'pipe:1'], { maxBuffer: 64 * 1024 * 1024 });
  writeFileSync(out, bytes);
}

/**
 * A copy of the Matroska file `mkv` whose header declares `seconds` instead of its real length:
 * the Segment's Duration element (ID 0x4489, an 8-byte float in milliseconds, as ffmpeg's muxer
 * writes it) rewritten. The frames stay; only what a prober reads of the length changes.
 */
export function withDeclaredDuration(mkv: Buffer, seconds: number): Buffer {
  const at = mkv.indexOf(Buffer.from([0x44, 0x89, 0x88]));
  if (at < 0 || at > 4096) throw new Error('no Matroska Duration element in the header');
  const copy = Buffer.from(mkv);
  copy.writeDoubleBE(seconds * 1000, at + 3);
  return copy;
}
