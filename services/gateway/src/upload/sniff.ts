import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { TalkieError } from '@talkie/contracts';

export type Container = 'isobmff' | 'matroska' | 'avi';

const HEAD_BYTES = 12;
/** Top-level boxes an MP4/MOV file may start with (QuickTime files need not start with `ftyp`). */
const ISO_BOXES = new Set(['ftyp', 'moov', 'mdat', 'free', 'skip', 'wide', 'pnot']);

/** Identifies a video container from its first bytes, or returns undefined. */
export function sniffContainer(head: Buffer): Container | undefined {
  if (head.length < HEAD_BYTES) return undefined;
  if (ISO_BOXES.has(head.toString('latin1', 4, 8))) return 'isobmff';
  if (head.readUInt32BE(0) === 0x1a45dfa3) return 'matroska';
  if (head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'AVI ') return 'avi';
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
    if (!this.container) return done(new TalkieError('unsupported_media_type'));
    if (this.expected && this.container !== this.expected) {
      return done(new TalkieError('unsupported_media_type', { message: 'The file content does not match its extension.' }));
    }
    this.hash.update(buffered);
    done(null, buffered);
  }

  override _flush(done: TransformCallback): void {
    if (!this.container) return done(new TalkieError('unsupported_media_type'));
    done();
  }
}
