import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import {
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { createStorage } from './create-storage';
import { partialTag, S3_PART_SIZE, S3Storage, type S3StorageOptions } from './s3-storage';

/**
 * Runs against a real S3-compatible server: s3rver, in its own process on a loopback port, storing
 * on disk (packages/storage/testing/s3-server.js, which also explains the two multipart calls it adds).
 */
const SERVER_SCRIPT = path.resolve(__dirname, '..', 'testing', 's3-server.js');
const BUCKET = 'talkie-test';
const MiB = 1024 * 1024;

interface S3Server {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  child: ChildProcess;
}

async function startS3Server(directory: string, buckets: string[]): Promise<S3Server> {
  // s3rver's ListObjectsV2 continuation tokens use DES, which OpenSSL 3 keeps in its legacy provider.
  const child = spawn(process.execPath, ['--openssl-legacy-provider', SERVER_SCRIPT, directory, ...buckets], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout! });
  return new Promise<S3Server>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`s3 server did not start in time: ${stderr}`));
    }, 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3 server exited with ${code}: ${stderr}`));
    });
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve({ ...(JSON.parse(line) as Omit<S3Server, 'child'>), child });
    });
  });
}

async function stopS3Server(server: S3Server | undefined): Promise<void> {
  const child = server?.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** A source that yields `total` bytes in 256 KiB chunks (made as it goes) and hashes what it yields. */
function generated(total: number) {
  const hash = createHash('sha256');
  async function* chunks() {
    const size = 256 * 1024;
    for (let at = 0, n = 0; at < total; at += size, n++) {
      const chunk = Buffer.alloc(Math.min(size, total - at), n % 251);
      chunk.writeUInt32BE(n, 0);
      hash.update(chunk);
      yield chunk;
    }
  }
  return { stream: Readable.from(chunks()), digest: () => hash.digest('hex') };
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

describe('S3Storage against a real S3-compatible server (s3rver)', () => {
  let tmp: string;
  let server: S3Server;
  let raw: S3Client;
  let tmpDir: string;
  let prefixCount = 0;
  const made: S3Storage[] = [];

  /** A storage under a fresh prefix of the shared bucket, so tests see only their own objects. */
  const storageFor = (options: Partial<S3StorageOptions> = {}) => {
    const storage = new S3Storage({
      bucket: BUCKET,
      prefix: `t${++prefixCount}`,
      endpoint: server.endpoint,
      region: server.region,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      tmpDir,
      ...options,
    });
    made.push(storage);
    return storage;
  };
  const prefixOf = () => `t${prefixCount}`;

  /** Everything in the bucket under `prefix`, finished or not, read with the raw client. */
  async function bucketContents(prefix: string) {
    const objects = await raw.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/` }));
    const uploads = await raw.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: `${prefix}/` }));
    return { objects: (objects.Contents ?? []).map((o) => o.Key), uploads: (uploads.Uploads ?? []).map((u) => u.Key) };
  }

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'talkie-s3-'));
    tmpDir = path.join(tmp, 'local-copies');
    await mkdir(tmpDir);
    server = await startS3Server(path.join(tmp, 'server'), [BUCKET]);
    raw = new S3Client({
      endpoint: server.endpoint,
      region: server.region,
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    });
  });

  afterAll(async () => {
    for (const storage of made) storage.destroy();
    raw?.destroy();
    await stopS3Server(server);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('streams a blob in and reads it back by path, from a private temporary copy', async () => {
    const storage = storageFor();
    const { bytes } = await storage.put('uploads/abc', Readable.from([Buffer.from('hello '), Buffer.from('world')]));
    expect(bytes).toBe(11);
    expect((await bucketContents(prefixOf())).objects).toEqual([`${prefixOf()}/uploads/abc`]);

    const file = await storage.openLocal('uploads/abc');
    expect(path.dirname(file.path)).toBe(tmpDir);
    expect((await stat(file.path)).mode & 0o777).toBe(0o600);
    expect(await readFile(file.path, 'utf8')).toBe('hello world');
    const second = await storage.openLocal('uploads/abc');
    expect(second.path).not.toBe(file.path);
    await file.release();
    await second.release();
    await file.release(); // twice is harmless
    expect(await readdir(tmpDir)).toEqual([]);

    expect(await storage.exists('uploads/abc')).toBe(true);
    await storage.delete('uploads/abc');
    expect(await storage.exists('uploads/abc')).toBe(false);
    await storage.delete('uploads/abc'); // idempotent
    await expect(storage.openLocal('uploads/abc')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(tmpDir)).toEqual([]);
  });

  it('leaves nothing behind when the source stream fails', async () => {
    const storage = storageFor();
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1024));
        this.destroy(new Error('client went away'));
      },
    });
    await expect(storage.put('uploads/broken', failing)).rejects.toThrow('client went away');
    expect(await storage.exists('uploads/broken')).toBe(false);
    expect(await collect(storage.list('uploads'))).toEqual([]);
    expect(await bucketContents(prefixOf())).toEqual({ objects: [], uploads: [] });
  });

  it('keepLocal: hands back a private copy written on the way, with no second read of the object', async () => {
    const storage = storageFor({ partSize: 5 * MiB });
    const chunks = Array.from({ length: 12 }, (_, i) => Buffer.alloc(MiB, i)); // a multipart upload
    const { bytes, local } = await storage.put('uploads/kept', Readable.from(chunks), { keepLocal: true });
    expect(bytes).toBe(12 * MiB);
    expect(path.dirname(local!.path)).toBe(tmpDir);
    expect((await stat(local!.path)).mode & 0o777).toBe(0o600);
    expect((await readFile(local!.path)).equals(Buffer.concat(chunks))).toBe(true);
    const stored = await storage.openLocal('uploads/kept');
    expect((await readFile(stored.path)).equals(Buffer.concat(chunks))).toBe(true);
    await stored.release();
    await local!.release();
    await local!.release(); // twice is harmless
    expect(await readdir(tmpDir)).toEqual([]);
    await storage.delete('uploads/kept');
  });

  it('keepLocal: a source that fails leaves no copy behind', async () => {
    const storage = storageFor();
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1024));
        this.destroy(new Error('client went away'));
      },
    });
    await expect(storage.put('uploads/kept-broken', failing, { keepLocal: true })).rejects.toThrow('client went away');
    expect(await readdir(tmpDir)).toEqual([]);
    expect(await bucketContents(prefixOf())).toEqual({ objects: [], uploads: [] });
  });

  it('reports a source that fails before writing starts, without an unhandled error event', async () => {
    const storage = storageFor();
    const failing = new Readable({ read() {} });
    const put = storage.put('uploads/early', failing);
    failing.destroy(new Error('rejected at once'));
    await expect(put).rejects.toThrow('rejected at once');
    expect(await storage.exists('uploads/early')).toBe(false);
  });

  it('shows nothing under the key while a multipart upload is under way, and aborts it when the source fails', async () => {
    const storage = storageFor({ partSize: 5 * MiB });
    let release!: (err: Error) => void;
    const gate = new Promise<never>((_, reject) => (release = reject));
    let sent = 0;
    async function* source() {
      for (; sent < 12 * MiB; sent += MiB) yield Buffer.alloc(MiB, 7);
      await gate; // the client stalls, then fails
    }
    const put = storage.put('uploads/midway', Readable.from(source()));
    put.catch(() => undefined);

    // Two parts are sent and the third is buffered: the upload exists, the object does not.
    const deadline = Date.now() + 20_000;
    let listed: { key: string; modifiedAt: Date }[] = [];
    while (Date.now() < deadline) {
      listed = await collect(storage.list('uploads'));
      if (listed.length && sent >= 12 * MiB) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await storage.exists('uploads/midway')).toBe(false);
    expect(listed).toHaveLength(1);
    expect(listed[0].key).toMatch(/^uploads\/midway\.partial-[0-9a-f]{16}$/);
    expect(Math.abs(listed[0].modifiedAt.getTime() - Date.now())).toBeLessThan(60_000);
    expect((await bucketContents(prefixOf())).objects).toEqual([]);

    release(new Error('client stalled and went away'));
    await expect(put).rejects.toThrow('client stalled and went away');
    expect(await storage.exists('uploads/midway')).toBe(false);
    expect(await collect(storage.list('uploads'))).toEqual([]);
    expect(await bucketContents(prefixOf())).toEqual({ objects: [], uploads: [] });
  });

  it.each(['../escape', 'uploads/../../etc', '/abs', 'Uploads/X', 'a//b', ''])('refuses the key %j', async (key) => {
    const storage = storageFor();
    await expect(storage.put(key, Readable.from(['x']))).rejects.toThrow('invalid storage key');
    await expect(storage.exists(key)).rejects.toThrow('invalid storage key');
    await expect(storage.delete(key)).rejects.toThrow('invalid storage key');
    await expect(storage.openLocal(key)).rejects.toThrow('invalid storage key');
  });

  it('streams a large upload in parts with bounded memory, and reads back the same bytes', async () => {
    const storage = storageFor();
    await storage.put('uploads/warm-up', Readable.from([Buffer.alloc(1024)])); // SDK loaded, sockets open
    // Larger than the bound below, so that holding the whole file (or most of it) cannot pass.
    const size = 96 * MiB;
    const source = generated(size);
    const commands: string[] = [];
    storage.client.middlewareStack.add(
      (next, context) => (args) => {
        commands.push(context.commandName as string);
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    // RSS also counts garbage V8 has not collected yet (it lets some 64 MiB of dead buffers pile up
    // before it looks), which says nothing about what the adapter holds: collect it while sampling.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    gc();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      gc();
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 10);
    let result: { bytes: number };
    try {
      result = await storage.put('uploads/large', source.stream);
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    expect(result.bytes).toBe(size);
    // 5 MiB parts, two in flight: about 20 MiB held, plus the source's own buffering and the SDK.
    expect(peak - before).toBeLessThan(64 * MiB);

    const head = await raw.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${prefixOf()}/uploads/large` }));
    expect(head.ContentLength).toBe(size);
    expect(commands.filter((c) => c !== 'UploadPartCommand')).toEqual(['CreateMultipartUploadCommand', 'CompleteMultipartUploadCommand']);
    expect(commands.filter((c) => c === 'UploadPartCommand')).toHaveLength(Math.ceil(size / S3_PART_SIZE));
    const file = await storage.openLocal('uploads/large');
    try {
      expect((await stat(file.path)).size).toBe(size);
      expect(await sha256File(file.path)).toBe(source.digest());
    } finally {
      await file.release();
    }
  });

  it('lists the blobs directly under a prefix, page after page, with unfinished uploads as partial keys', async () => {
    const storage = storageFor({ listPageSize: 2 });
    const names = ['a1', 'b2', 'c3', 'd4', 'e5'];
    for (const name of names) await storage.put(`uploads/${name}`, Readable.from([name]));
    await storage.put('uploads/deeper/f6', Readable.from(['not a direct child']));
    await storage.put('other/g7', Readable.from(['another folder']));
    // Not a key Talkie could have made: not Talkie's to list or sweep.
    await raw.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefixOf()}/uploads/Foreign File.TXT`, Body: 'x' }));
    // Three uploads a crashed node left unfinished (two to the same key).
    const started: string[] = [];
    for (const name of ['p1', 'p2', 'p2']) {
      const { UploadId } = await raw.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: `${prefixOf()}/uploads/${name}` }));
      started.push(UploadId!);
    }

    const listed = await collect(storage.list('uploads'));
    const partials = [`uploads/p1.partial-${partialTag(started[0])}`, `uploads/p2.partial-${partialTag(started[1])}`, `uploads/p2.partial-${partialTag(started[2])}`];
    expect(listed.map((b) => b.key).sort()).toEqual([...names.map((n) => `uploads/${n}`), ...partials].sort());
    for (const blob of listed) {
      expect(blob.modifiedAt).toBeInstanceOf(Date);
      expect(Math.abs(blob.modifiedAt.getTime() - Date.now())).toBeLessThan(60_000);
    }
    expect(await collect(storage.list('nothing-here'))).toEqual([]);

    // What the retention sweep does with a partial key: delete() aborts that upload, and only that one.
    await storage.delete(partials[1]);
    await storage.delete(partials[1]); // idempotent
    expect((await collect(storage.list('uploads'))).map((b) => b.key).filter((k) => k.includes('.partial-')).sort()).toEqual(
      [partials[0], partials[2]].sort(),
    );
    await storage.delete(partials[0]);
    await storage.delete(partials[2]);
    expect((await bucketContents(prefixOf())).uploads).toEqual([]);
    expect(await storage.exists('uploads/p1')).toBe(false);
  });

  it('pings a writable bucket without leaving anything, and fails for a missing one', async () => {
    const storage = storageFor();
    await expect(storage.ping()).resolves.toBeUndefined();
    expect(await bucketContents(prefixOf())).toEqual({ objects: [], uploads: [] });
    const missing = storageFor({ bucket: 'no-such-bucket' });
    await expect(missing.ping()).rejects.toThrow();
  });

  it('fails a put that the store refuses, and stops reading the source', async () => {
    const missing = storageFor({ bucket: 'no-such-bucket' });
    const small = Readable.from([Buffer.from('x')]);
    await expect(missing.put('uploads/small', small)).rejects.toMatchObject({ name: 'NoSuchBucket' });
    const large = generated(64 * MiB).stream; // multipart: refused at CreateMultipartUpload
    await expect(missing.put('uploads/large', large)).rejects.toMatchObject({ name: 'NoSuchBucket' });
    expect(large.destroyed).toBe(true);
  });

  it('is built from an s3:// STORAGE_URL and the S3_* / AWS_* environment', async () => {
    const env = {
      S3_ENDPOINT: server.endpoint,
      AWS_ACCESS_KEY_ID: server.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
    };
    const storage = createStorage(`s3://${BUCKET}/talkie/prod`, env) as S3Storage;
    made.push(storage);
    expect(storage).toBeInstanceOf(S3Storage);
    expect(storage.description).toBe(`s3://${BUCKET}/talkie/prod at ${server.endpoint}`);
    expect(storage.description).not.toContain(server.secretAccessKey);
    await storage.ping();
    await storage.put('uploads/from-url', Readable.from(['via createStorage']));
    expect((await bucketContents('talkie/prod')).objects).toEqual(['talkie/prod/uploads/from-url']);
    expect(await collect(storage.list('uploads'))).toEqual([{ key: 'uploads/from-url', modifiedAt: expect.any(Date) }]);
    await storage.delete('uploads/from-url');
    expect((await bucketContents('talkie/prod')).objects).toEqual([]);

    // path-style is the default with an endpoint; turned off, the bucket would be a host name.
    expect(await storage.client.config.forcePathStyle).toBe(true);
    expect(await storage.client.config.region()).toBe('us-east-1');
    const virtual = createStorage(`s3://${BUCKET}`, { ...env, S3_FORCE_PATH_STYLE: 'false', S3_REGION: 'eu-west-1' }) as S3Storage;
    made.push(virtual);
    expect(await virtual.client.config.forcePathStyle).toBe(false);
    expect(await virtual.client.config.region()).toBe('eu-west-1');
    expect(virtual.description).toBe(`s3://${BUCKET} at ${server.endpoint}`);
    const aws = createStorage(`s3://${BUCKET}/x`, {}) as S3Storage; // no endpoint: AWS S3, default credential chain
    made.push(aws);
    expect(await aws.client.config.forcePathStyle).toBe(false);
    expect(aws.description).toBe(`s3://${BUCKET}/x`);

    expect(() => createStorage('s3:///prefix', env)).toThrow('invalid bucket');
    expect(() => createStorage('s3://Bad_Bucket', env)).toThrow('invalid bucket');
    expect(() => createStorage(`s3://key:secret@${BUCKET}`, env)).toThrow('no credentials');
    expect(() => createStorage(`s3://${BUCKET}/a b`, env)).toThrow('invalid prefix');
    expect(() => createStorage(`s3://${BUCKET}`, { ...env, S3_FORCE_PATH_STYLE: 'maybe' })).toThrow('S3_FORCE_PATH_STYLE');
    expect(() => createStorage(`s3://${BUCKET}`, { ...env, S3_ENDPOINT: 'ftp://x' })).toThrow('S3_ENDPOINT');
    expect(() => createStorage(`s3://${BUCKET}`, { S3_ENDPOINT: server.endpoint, AWS_ACCESS_KEY_ID: 'only-half' })).toThrow('AWS_SECRET_ACCESS_KEY');
    expect(() => createStorage('ftp://example/x', env)).toThrow('not supported');
  });
});
