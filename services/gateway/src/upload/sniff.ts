import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ERROR_CATALOGUE } from '@talkie/contracts';
import { unsupportedUpload, type Container } from './accepted-types';

export type { Container };

const HEAD_BYTES = 12;
const NOT_A_VIDEO = ERROR_CATALOGUE.unsupported_media_type.message;
/** Top-level boxes an MP4/MOV file may start with (QuickTime files need not start with `ftyp`). */
const ISO_BOXES = new Set(['ftyp', 'moov', 'mdat', 'free', 'skip', 'wide', 'pnot']);

/**
 * An MPEG program stream (`.mpg`: the GRID corpus, DVD-era and archived video) opens with a pack
 * header, start code 00 00 01 BA, whose next byte says which system layer it is: `0010` in its top
 * bits for MPEG-1 system streams, `01` for MPEG-2 program streams. Transport streams (`.ts`, 0x47
 * sync bytes) are a different format and demuxer and stay refused: they are broadcast and HLS
 * segments, not files people keep, and `.ts` is as often TypeScript.
 */
function isMpegPack(head: Buffer): boolean {
  if (head.readUInt32BE(0) !== 0x000001ba) return false;
  const layer = head[4];
  return (layer & 0xf0) === 0x20 || (layer & 0xc0) === 0x40;
}

/** Identifies a video container from its first bytes, or returns undefined. */
export function sniffContainer(head: Buffer): Container | undefined {
  if (head.length < HEAD_BYTES) return undefined;
  if (ISO_BOXES.has(head.toString('latin1', 4, 8))) return 'isobmff';
  if (head.readUInt32BE(0) === 0x1a45dfa3) return 'matroska';
  if (head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'AVI ') return 'avi';
  if (isMpegPack(head)) return 'mpeg-ps';
  return undefined;
}

/**
 * Passes a stream through once its first bytes look like a video container, and fails it with
 * `unsupported_media_type` otherwise, before anything past the header is stored. It also hashes
 * what passes, so the upload's fingerprint costs no second read.
 */
export class ContainerSniffer extends Transform {
  container?: Container;
  private head: Buffer[] = [];
  private headLength = 0;
  private readonly hash = createHash('sha256');

  /** SHA-256 (hex) of everything passed through; call once the stream has ended. */
  sha256(): string {
    return this.hash.digest('hex');
  }

  /** @param expected the container the file's extension promises; anything else is refused */
  constructor(private readonly expected?: Container) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.container) {
      this.hash.update(chunk);
      return done(null, chunk);
    }
    this.head.push(chunk);
    this.headLength += chunk.length;
    if (this.headLength < HEAD_BYTES) return done();
    const buffered = Buffer.concat(this.head, this.headLength);
    this.head = [];
    this.container = sniffContainer(buffered);
    if (!this.container) return done(unsupportedUpload(NOT_A_VIDEO));
    if (this.expected && this.container !== this.expected) {
      return done(unsupportedUpload('The file content does not match its extension.'));
    }
    this.hash.update(buffered);
    done(null, buffered);
  }

  override _flush(done: TransformCallback): void {
    if (!this.container) return done(unsupportedUpload(NOT_A_VIDEO));
    done();
  }
}
