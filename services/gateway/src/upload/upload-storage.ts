import type { Request } from 'express';
import type { StorageEngine } from 'multer';
import { TalkieError } from '@talkie/contracts';
import { uploadKey, type BlobStorage, type LocalFile } from '@talkie/storage';
import path from 'node:path';
import { CONTAINER_OF_EXTENSION, unsupportedUpload } from './accepted-types';
import { ContainerSniffer, type Container } from './sniff';

export interface StoredUpload {
  key: string;
  size: number;
  container: Container;
  /** SHA-256 of the file, hex: the fingerprint idempotent retries are compared by */
  sha256: string;
  /**
   * The file as stored, on this machine, for the probe: without it an object store's upload would
   * be downloaded right back. The route releases it (and so does a removal).
   */
  local: LocalFile;
}

declare module 'express-serve-static-core' {
  interface Request {
    /** id of the job being created; also names its upload in storage */
    newJobId?: string;
  }
}

/**
 * A multer storage engine that streams the file part straight into blob storage under the job's
 * generated key (the client's filename is never used), checking the container's magic bytes on
 * the way. Nothing is buffered whole in memory.
 */
export class UploadStorageEngine implements StorageEngine {
  constructor(private readonly storage: BlobStorage) {}

  _handleFile(req: Request, file: Express.Multer.File, cb: (error?: unknown, info?: Partial<Express.Multer.File>) => void): void {
    const jobId = req.newJobId;
    if (!jobId) return cb(new Error('upload without a job id'));
    // The client's filename only contributes its extension, checked against an allow-list and,
    // below, against the container's magic bytes; it is never used as a name in storage.
    const extension = path.extname(file.originalname ?? '').toLowerCase();
    const expected = CONTAINER_OF_EXTENSION[extension];
    if (!expected) {
      file.stream.resume();
      return cb(unsupportedUpload('This file type is not accepted.'));
    }
    const key = uploadKey(jobId);
    const sniffer = new ContainerSniffer(expected);
    file.stream.on('error', (err) => sniffer.destroy(err));
    // Past the size limit busboy just stops the stream; fail the write instead, so the truncated
    // file is never stored under its real key.
    file.stream.on('limit', () => sniffer.destroy(new TalkieError('payload_too_large')));
    this.storage.put(key, file.stream.pipe(sniffer), { keepLocal: true }).then(
      ({ bytes, local }) => cb(null, { size: bytes, ...({ key, container: sniffer.container, sha256: sniffer.sha256(), local } as object) }),
      (err: unknown) => cb(err),
    );
  }

  _removeFile(_req: Request, file: Express.Multer.File & Partial<StoredUpload>, cb: (error: Error | null) => void): void {
    if (!file.key) return cb(null);
    Promise.all([file.local?.release(), this.storage.delete(file.key)]).then(() => cb(null), cb);
  }
}
