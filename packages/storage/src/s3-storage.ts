import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform, pipeline as pipelineCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { assertValidKey, type BlobStorage, type LocalFile, type PutOptions, type StoredBlob } from './blob-storage';

/**
 * 5 MiB parts (S3's smallest), two in flight: a put holds about (queue + 2) parts, the ones being
 * sent plus the one being gathered and its copy, so some 20 MiB per concurrent upload whatever the
 * file's size, and objects up to 10,000 parts (48 GiB).
 */
export const S3_PART_SIZE = 5 * 1024 * 1024;
export const S3_QUEUE_SIZE = 2;

export interface S3StorageOptions {
  bucket: string;
  /** Prepended to every key, without slashes at either end (`talkie/prod` → `talkie/prod/uploads/…`). */
  prefix?: string;
  /** An S3-compatible endpoint (MinIO, Ceph, R2…); unset for AWS S3 itself. */
  endpoint?: string;
  region?: string;
  /** Path-style addressing (`endpoint/bucket/key`); the default is true when an endpoint is set. */
  forcePathStyle?: boolean;
  /** Unset: the SDK's default credential chain (env, shared config, web identity, instance role…). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Extra SDK client settings (checksum modes, retries); merged over the ones above. */
  clientConfig?: S3ClientConfig;
  /** Where openLocal() writes its temporary copies; os.tmpdir() by default. */
  tmpDir?: string;
  partSize?: number;
  queueSize?: number;
  /** Page size for the listings; tests lower it to exercise pagination. */
  listPageSize?: number;
}

/**
 * Partial-upload convention. S3 keeps an unfinished multipart upload out of sight: no object exists
 * under its key until CompleteMultipartUpload, and a failed put() aborts it. A crash can still leave
 * one behind (its parts are stored, and billed, until aborted). So that the retention sweep finds
 * those as it finds the local adapter's `<key>.partial-<random>` files, list() reports each
 * in-progress multipart upload as `<key>.partial-<tag>`, modified at its Initiated time, and
 * delete() of such a key aborts that upload. `<tag>` is the first 16 hex digits of the SHA-256 of
 * the UploadId: UploadIds are opaque strings (upper case, dots, dashes) that keys may not contain.
 */
const PARTIAL_TAG_LENGTH = 16;
const PARTIAL_KEY = new RegExp(`^(.+)\\.partial-([0-9a-f]{${PARTIAL_TAG_LENGTH}})$`);
export const partialTag = (uploadId: string): string => createHash('sha256').update(uploadId).digest('hex').slice(0, PARTIAL_TAG_LENGTH);

const KEY_PATTERN = /^[a-z0-9][a-z0-9_-]*(\/[a-z0-9][a-z0-9_.-]*)*$/;
const isTalkieKey = (key: string) => KEY_PATTERN.test(key) && !key.includes('..');

/** S3 answers a missing key with 404: `NotFound` from HEAD, `NoSuchKey` from GET, `NoSuchUpload` for uploads. */
function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | null;
  return e?.$metadata?.httpStatusCode === 404 || e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.name === 'NoSuchUpload';
}

/** Stores blobs as objects in one S3 bucket (AWS or any S3-compatible store), shared by every node. */
export class S3Storage implements BlobStorage {
  readonly description: string;
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly tmpDir: string;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly listPageSize: number | undefined;

  constructor(options: S3StorageOptions) {
    this.bucket = options.bucket;
    this.prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.tmpDir = options.tmpDir ?? os.tmpdir();
    this.partSize = options.partSize ?? S3_PART_SIZE;
    this.queueSize = options.queueSize ?? S3_QUEUE_SIZE;
    this.listPageSize = options.listPageSize;
    const endpoint = options.endpoint;
    this.client = new S3Client({
      region: options.region ?? 'us-east-1',
      ...(endpoint ? { endpoint } : {}),
      forcePathStyle: options.forcePathStyle ?? Boolean(endpoint),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      // A store that stops answering must fail a readiness check, not hang it; the socket timeout
      // is for silence, so a long upload is not cut short.
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
      ...options.clientConfig,
    });
    const where = `s3://${this.bucket}${this.prefix ? `/${this.prefix}` : ''}`;
    this.description = endpoint ? `${where} at ${redactEndpoint(endpoint)}` : where;
  }

  /** Closes the client's pooled connections; the storage cannot be used afterwards. */
  destroy(): void {
    this.client.destroy();
  }

  private objectKey(key: string): string {
    assertValidKey(key);
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  /** The storage key of an object key under this adapter's prefix, or undefined for one outside it. */
  private storageKey(objectKey: string): string | undefined {
    if (!this.prefix) return objectKey;
    return objectKey.startsWith(`${this.prefix}/`) ? objectKey.slice(this.prefix.length + 1) : undefined;
  }

  async put(key: string, source: Readable, options: PutOptions = {}): Promise<StoredBlob> {
    const Key = this.objectKey(key);
    let bytes = 0;
    let sourceError: unknown;
    // keepLocal: every chunk also goes to a temporary file on its way to the store, each handed on
    // once written (the disk holds the upload back, as the store does), so nothing is read back
    const copy = options.keepLocal ? this.temporaryFile() : undefined;
    const copyStream = copy && createWriteStream(copy.path, { flags: 'wx', mode: 0o600 });
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        if (!copyStream) return done(null, chunk);
        copyStream.write(chunk, (err) => done(err ?? null, chunk));
      },
      flush(done) {
        if (!copyStream) return done();
        copyStream.end(() => done(copyStream.errored ?? null));
      },
    });
    copyStream?.on('error', (err) => counter.destroy(err));
    // pipeline() takes the source's errors at once (no unhandled 'error' event, however early the
    // source fails) and destroys `counter` with them, which fails the Upload reading from it.
    pipelineCallback(source, counter, (err) => {
      if (err) sourceError ??= err;
    });
    // The Upload buffers one part per queue slot and sends PutObject for a body under one part,
    // CreateMultipartUpload + UploadPart + CompleteMultipartUpload above. In both cases nothing is
    // visible under `Key` until the last request succeeds.
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key, Body: counter },
      partSize: this.partSize,
      queueSize: this.queueSize,
      // Aborted below instead, so that a failed abort never hides why the put failed.
      leavePartsOnError: true,
    });
    try {
      await upload.done();
    } catch (err) {
      // The source's own error says why (a client gone, a limit hit); taken before the destroy()
      // calls below can add a premature-close error of their own.
      const cause: unknown = source.errored ?? sourceError ?? err;
      source.destroy();
      counter.destroy();
      if (copyStream) {
        // closed before it is removed: a write stream still opening would create the file anew
        if (!copyStream.closed) await new Promise<void>((resolve) => copyStream.once('close', () => resolve()).destroy());
        await copy!.release();
      }
      if (upload.uploadId) {
        // Best effort: if this fails too, list() shows the upload as a partial and the sweep aborts it.
        await this.client
          .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId: upload.uploadId }))
          .catch(() => undefined);
      }
      throw cause;
    }
    return copy ? { bytes, local: copy } : { bytes };
  }

  /** A name for a temporary copy in tmpDir, removed (once) on release. */
  private temporaryFile(): LocalFile {
    const file = path.join(this.tmpDir, `talkie-blob-${randomBytes(12).toString('hex')}`);
    let released = false;
    return {
      path: file,
      release: async () => {
        if (released) return;
        released = true;
        await rm(file, { force: true });
      },
    };
  }

  async openLocal(key: string): Promise<LocalFile> {
    const Key = this.objectKey(key);
    let body: Readable;
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
      body = response.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) throw Object.assign(new Error(`no blob stored under ${key}`), { code: 'ENOENT' });
      throw err;
    }
    const file = this.temporaryFile();
    try {
      await pipeline(body, createWriteStream(file.path, { flags: 'wx', mode: 0o600 }));
    } catch (err) {
      body.destroy();
      await file.release();
      throw err;
    }
    return file;
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return true;
    } catch (err) {
      // Anything but "not found" (403 when the role may not list the bucket, a 5xx) is an error,
      // not a missing upload.
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    const Key = this.objectKey(key);
    // S3 answers 204 for a missing key too, so this is idempotent as it stands.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
    const partial = PARTIAL_KEY.exec(key);
    if (partial) await this.abortPartial(this.objectKey(partial[1]), partial[2]);
  }

  /** Aborts the in-progress multipart uploads to `Key` whose UploadId has the tag `tag`. */
  private async abortPartial(Key: string, tag: string): Promise<void> {
    for await (const upload of this.multipartUploads(Key, undefined)) {
      if (upload.Key !== Key || !upload.UploadId || partialTag(upload.UploadId) !== tag) continue;
      try {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId: upload.UploadId }));
      } catch (err) {
        if (!isNotFound(err)) throw err; // finished or aborted meanwhile
      }
    }
  }

  private async *multipartUploads(Prefix: string, Delimiter: string | undefined) {
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.client.send(
        new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix, Delimiter, KeyMarker, UploadIdMarker, MaxUploads: this.listPageSize }),
      );
      yield* page.Uploads ?? [];
      if (!page.IsTruncated) return;
      if (page.NextKeyMarker === KeyMarker && page.NextUploadIdMarker === UploadIdMarker) {
        throw new Error('ListMultipartUploads returned a truncated page without advancing its markers');
      }
      KeyMarker = page.NextKeyMarker;
      UploadIdMarker = page.NextUploadIdMarker;
    }
  }

  /**
   * The blobs directly under `prefix` (not in deeper "folders", as with the local adapter), then the
   * in-progress multipart uploads there as `<key>.partial-<tag>` (see the convention above). Objects
   * whose names Talkie could not have made are left out: they are not ours to sweep.
   */
  async *list(prefix: string): AsyncIterable<{ key: string; modifiedAt: Date }> {
    const Prefix = `${this.objectKey(prefix)}/`;
    let ContinuationToken: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix, Delimiter: '/', ContinuationToken, MaxKeys: this.listPageSize }),
      );
      for (const object of page.Contents ?? []) {
        const key = object.Key === undefined ? undefined : this.storageKey(object.Key);
        if (key === undefined || !isTalkieKey(key)) continue;
        yield { key, modifiedAt: object.LastModified ?? new Date(0) };
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);

    for await (const upload of this.multipartUploads(Prefix, '/')) {
      const key = upload.Key === undefined ? undefined : this.storageKey(upload.Key);
      if (key === undefined || !upload.UploadId || !isTalkieKey(key)) continue;
      yield { key: `${key}.partial-${partialTag(upload.UploadId)}`, modifiedAt: upload.Initiated ?? new Date(0) };
    }
  }

  /** Writes and removes a tiny object: proves the bucket exists, the credentials work and may write. */
  async ping(): Promise<void> {
    const name = `.ping-${process.pid}-${randomBytes(4).toString('hex')}`;
    const Key = this.prefix ? `${this.prefix}/${name}` : name;
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: new Uint8Array(0), ContentLength: 0 }));
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
  }
}

function redactEndpoint(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    return endpoint;
  }
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

function parseBoolean(name: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new Error(`${name} must be true or false, not ${JSON.stringify(value)}`);
}

/** Bucket names as S3 accepts them for new buckets (lower case, 3–63 characters, no `..`). */
const BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;
const S3_CHECKSUM_MODES = new Set(['WHEN_SUPPORTED', 'WHEN_REQUIRED']);

/** The S3_* / AWS_* variables the S3 adapter reads (the parsed config of a service carries them). */
export interface S3Env {
  S3_ENDPOINT?: string;
  S3_REGION?: string;
  S3_FORCE_PATH_STYLE?: string;
  AWS_ACCESS_KEY_ID?: string;
  AWS_SECRET_ACCESS_KEY?: string;
  AWS_SESSION_TOKEN?: string;
  AWS_REQUEST_CHECKSUM_CALCULATION?: string;
  AWS_RESPONSE_CHECKSUM_VALIDATION?: string;
}

/** Bucket and prefix of `s3://bucket[/prefix]`; throws on anything else. */
export function s3Location(url: URL): { bucket: string; prefix: string } {
  if (url.protocol !== 's3:') throw new Error(`not an s3:// URL: ${url.protocol}`);
  if (url.username || url.password || url.port || url.search || url.hash) {
    throw new Error('STORAGE_URL s3://bucket[/prefix] takes no credentials, port, query or fragment (use S3_ENDPOINT and AWS_* variables)');
  }
  const bucket = url.hostname;
  if (!BUCKET_PATTERN.test(bucket) || bucket.includes('..')) {
    throw new Error(`STORAGE_URL names an invalid bucket: ${JSON.stringify(bucket)} (use s3://bucket[/prefix])`);
  }
  const prefix = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '');
  if (prefix && !prefix.split('/').every((segment) => PREFIX_SEGMENT.test(segment) && segment !== '.' && segment !== '..')) {
    throw new Error(`STORAGE_URL has an invalid prefix: ${JSON.stringify(prefix)}`);
  }
  return { bucket, prefix };
}

/** `S3_ENDPOINT`: unset, or an http(s) URL; throws otherwise. */
export function s3Endpoint(value: string | undefined): string | undefined {
  const endpoint = value?.trim() || undefined;
  if (endpoint) {
    let parsed: URL;
    try {
      parsed = new URL(endpoint);
    } catch {
      throw new Error(`S3_ENDPOINT is not a URL: ${endpoint}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`S3_ENDPOINT must be http(s)://, not ${parsed.protocol}`);
  }
  return endpoint;
}

/** `S3_FORCE_PATH_STYLE`: a boolean word; unset: path-style exactly when there is an endpoint. */
export function s3PathStyle(value: string | undefined, endpoint: string | undefined): boolean {
  const pathStyle = value?.trim();
  return pathStyle ? parseBoolean('S3_FORCE_PATH_STYLE', pathStyle) : Boolean(endpoint);
}

/** Static credentials, both keys or neither (undefined: the SDK's default chain); throws on one alone. */
export function s3Credentials(env: S3Env): S3StorageOptions['credentials'] {
  const accessKeyId = env.AWS_ACCESS_KEY_ID?.trim();
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY?.trim();
  if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) {
    throw new Error('set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither (for the default credential chain)');
  }
  const sessionToken = env.AWS_SESSION_TOKEN?.trim() || undefined;
  return accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } : undefined;
}

/**
 * Reads `s3://bucket[/prefix]` and the S3_* / AWS_* variables of `env` into S3Storage options:
 * S3_ENDPOINT, S3_REGION (default us-east-1), S3_FORCE_PATH_STYLE (default true with an endpoint),
 * AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), else the SDK's default chain.
 * A service passes its parsed config, where `StorageEnv` (settings.ts) checked the same rules at start.
 */
export function s3OptionsFromUrl(url: URL, env: S3Env = process.env): S3StorageOptions {
  const { bucket, prefix } = s3Location(url);
  const endpoint = s3Endpoint(env.S3_ENDPOINT);
  const forcePathStyle = s3PathStyle(env.S3_FORCE_PATH_STYLE, endpoint);
  const credentials = s3Credentials(env);

  // The SDK reads these two from process.env itself; read them from `env` too, so that one passed
  // explicitly means the same. WHEN_REQUIRED suits stores that reject the SDK's default checksums.
  const clientConfig: S3ClientConfig = {};
  const requestChecksum = env.AWS_REQUEST_CHECKSUM_CALCULATION?.trim().toUpperCase();
  const responseChecksum = env.AWS_RESPONSE_CHECKSUM_VALIDATION?.trim().toUpperCase();
  if (requestChecksum && S3_CHECKSUM_MODES.has(requestChecksum)) {
    clientConfig.requestChecksumCalculation = requestChecksum as 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  }
  if (responseChecksum && S3_CHECKSUM_MODES.has(responseChecksum)) {
    clientConfig.responseChecksumValidation = responseChecksum as 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  }

  return {
    bucket,
    prefix,
    endpoint,
    region: env.S3_REGION?.trim() || 'us-east-1',
    forcePathStyle,
    credentials,
    clientConfig,
  };
}
