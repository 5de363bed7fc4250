import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { ERROR_CATALOGUE } from '@talkie/contracts';
import { resolveFfmpeg } from '@talkie/media';
import { submit, waitForJob } from './support/client';
import { fixture } from './support/fixtures';
import { ARTIFACTS, ROOT, startStack, waitUntil, type Stack } from './support/stack';

/**
 * Property-based fuzzing of POST /v1/jobs against the real gateway (a real process, a Redis logical DB leased for this file,
 * real ffprobe), plus a fixed corpus of hostile files with their exact expected answers.
 *
 * Invariants checked for every generated request:
 *  - the answer is a 4xx, never a 5xx; when it has a body, the body is exactly
 *    `{ error: { code, message, request_id } }` with a catalogue code whose status is the HTTP status,
 *    and it leaks no path or stack frame;
 *  - no `talkie:job:*` key appears (nothing is queued for a rejected file);
 *  - storage/uploads ends up empty (partial writes are given a bounded moment to be removed);
 *  - no file appears anywhere outside storage/uploads: the stack's temp folder is snapshotted before
 *    and after, the places a `../`-laden client filename would resolve to are checked, and os.tmpdir()
 *    and the repository are scanned for any name carrying this run's marker;
 *  - the gateway stays alive and healthy (GET /healthz 200), and a good upload still completes after.
 *
 * Connection outcomes: for well-framed requests (an honest Content-Length or chunked encoding that
 * terminates properly) an HTTP answer is required, even when the multipart body inside is truncated or
 * broken. Only when the client itself breaks the framing (declares more bytes than it sends, then
 * closes or half-closes its socket) is "no answer" acceptable: there is nobody left to answer to, and
 * Node's HTTP layer may instead send its own empty `400` (no body) for the unparseable message. In those
 * cases the invariants above (health, no leftovers, no job) are what matters.
 */

const MAX_UPLOAD_BYTES = 200_000;
const MARKER = `tkfz${randomBytes(3).toString('hex')}`;
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const run = promisify(execFile);

/** First bytes of each container family the gateway sniffs, as a real file of that kind starts. */
const MAGIC = {
  isobmff: Buffer.from('00000018667479706d703432000000006d703432', 'hex'), // ftyp mp42
  matroska: Buffer.from('1a45dfa39f4286810142f7810142f2810442f381084282847765626d', 'hex'), // EBML … webm
  avi: Buffer.concat([Buffer.from('RIFF'), Buffer.from([0x24, 0, 0, 0]), Buffer.from('AVI LIST')]),
  'mpeg-ps': Buffer.from('000001ba2100010001801425000001bb000c8014', 'hex'), // MPEG-1 pack + system header, as GRID's .mpg
} as const;
type Family = keyof typeof MAGIC;
const FAMILY_OF: Record<string, Family | undefined> = { '.mp4': 'isobmff', '.mov': 'isobmff', '.webm': 'matroska', '.mkv': 'matroska', '.avi': 'avi', '.mpg': 'mpeg-ps', '.mpeg': 'mpeg-ps' };

// ---------------------------------------------------------------------------------------------------
// raw HTTP: node:http with full control over bytes, Content-Length and framing

type Framing = 'length' | 'chunked' | 'lie-then-destroy' | 'lie-then-half-close';

type RawOutcome =
  | { kind: 'answer'; status: number; headers: http.IncomingHttpHeaders; body: Buffer }
  | { kind: 'no-answer'; error: string };

function rawPost(
  baseUrl: string,
  body: Buffer,
  options: { headers: Record<string, string>; framing: Framing; declaredLength?: number; path?: string },
): Promise<RawOutcome> {
  const url = new URL(options.path ?? '/v1/jobs', baseUrl);
  const headers: Record<string, string | number> = { ...options.headers };
  if (options.framing === 'chunked') headers['transfer-encoding'] = 'chunked';
  else headers['content-length'] = options.framing === 'length' ? body.length : (options.declaredLength ?? body.length + 1000);
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: RawOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      resolve(outcome);
    };
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers, agent: false });
    const guard = setTimeout(() => {
      req.destroy();
      settle({ kind: 'no-answer', error: 'client timeout (15 s)' });
    }, 15_000);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => settle({ kind: 'answer', status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', () => settle({ kind: 'answer', status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => settle({ kind: 'no-answer', error: err.code ?? err.message }));
    if (options.framing === 'chunked') {
      // several chunks of uneven sizes
      for (let at = 0; at < body.length; at += 7_919) req.write(body.subarray(at, at + 7_919));
      req.end();
      return;
    }
    if (options.framing === 'length') {
      req.end(body);
      return;
    }
    // the client breaks the framing: fewer bytes than declared, then it goes away
    req.flushHeaders();
    req.write(body, () => {
      setTimeout(() => {
        if (settled) return;
        if (options.framing === 'lie-then-destroy') {
          req.destroy();
          settle({ kind: 'no-answer', error: 'destroyed by the client' });
        } else {
          req.socket?.end(); // FIN: the server may still answer on the half-open socket
          setTimeout(() => {
            req.destroy();
            settle({ kind: 'no-answer', error: 'half-closed by the client, no answer' });
          }, 2_000);
        }
      }, 100);
    });
  });
}

interface Part {
  /** raw Content-Disposition value bytes (after `Content-Disposition: `) */
  disposition: Buffer;
  contentType?: string;
  data: Buffer;
}

const disposition = (name: string, filename?: string, encoding: 'quoted' | 'rfc5987' | 'bare' | 'raw-latin1' = 'quoted'): Buffer => {
  const head = `form-data; name="${name}"`;
  if (filename === undefined) return Buffer.from(head);
  switch (encoding) {
    case 'quoted':
      return Buffer.concat([Buffer.from(`${head}; filename="`), Buffer.from(filename, 'utf8'), Buffer.from('"')]);
    case 'rfc5987':
      return Buffer.from(`${head}; filename*=UTF-8''${encodeURIComponent(filename)}`);
    case 'bare':
      return Buffer.concat([Buffer.from(`${head}; filename=`), Buffer.from(filename, 'utf8')]);
    case 'raw-latin1':
      return Buffer.concat([Buffer.from(`${head}; filename="`), Buffer.from(filename, 'latin1'), Buffer.from('"')]);
  }
};

function multipart(boundary: string, parts: Part[]): { body: Buffer; fileDataEnd: number[] } {
  const pieces: Buffer[] = [];
  const fileDataEnd: number[] = [];
  let length = 0;
  const push = (b: Buffer) => {
    pieces.push(b);
    length += b.length;
  };
  for (const part of parts) {
    push(Buffer.from(`--${boundary}\r\nContent-Disposition: `));
    push(part.disposition);
    if (part.contentType !== undefined) push(Buffer.from(`\r\nContent-Type: ${part.contentType}`));
    push(Buffer.from('\r\n\r\n'));
    push(part.data);
    fileDataEnd.push(length);
    push(Buffer.from('\r\n'));
  }
  push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(pieces, length), fileDataEnd };
}

// ---------------------------------------------------------------------------------------------------
// invariants

const LEAK = /\/tmp\/|\/work\/|\/home\/|\/root\/|node_modules|at .*\.js|ENOENT|EACCES|ffprobe|busboy|multer/;

/** outcome counts per property, printed with FUZZ_STATS=1 (to see what the generators reach) */
const tally = new Map<string, number>();
let currentProperty = '';

function expectClean4xx(outcome: RawOutcome, allowNoAnswer: boolean): void {
  const key = `${currentProperty} | ${outcome.kind === 'answer' ? `${outcome.status} ${outcome.body.length ? codeOf(outcome) : '(empty body)'}` : `no answer: ${outcome.error}`}`;
  tally.set(key, (tally.get(key) ?? 0) + 1);
  if (outcome.kind === 'no-answer') {
    if (!allowNoAnswer) throw new Error(`no HTTP answer to a well-framed request: ${outcome.error}`);
    return;
  }
  expect(outcome.status).toBeGreaterThanOrEqual(400);
  expect(outcome.status).toBeLessThan(500);
  if (outcome.body.length === 0) {
    // Only Node's own answer to an unparseable HTTP message (client broke the framing) has no body.
    if (!allowNoAnswer) throw new Error(`empty ${outcome.status} answer to a well-framed request`);
    return;
  }
  expect(outcome.headers['content-type']).toMatch(/^application\/json/);
  const text = outcome.body.toString('utf8');
  const json = JSON.parse(text) as { error: { code: keyof typeof ERROR_CATALOGUE; message: string; request_id: string } };
  expect(json).toEqual({ error: { code: expect.any(String), message: expect.any(String), request_id: expect.any(String) } });
  expect(Object.keys(ERROR_CATALOGUE)).toContain(json.error.code);
  expect(ERROR_CATALOGUE[json.error.code].status).toBe(outcome.status);
  expect(json.error.request_id).not.toBe('');
  expect(text).not.toMatch(LEAK);
  expect(outcome.headers['cache-control']).toBe('no-store');
}

const codeOf = (outcome: RawOutcome): string | undefined =>
  outcome.kind === 'answer' && outcome.body.length > 0 ? (JSON.parse(outcome.body.toString()) as { error: { code: string } }).error.code : undefined;

/** Files under `root` (relative paths), depth-bounded; folders that vanish meanwhile are skipped. */
async function listFiles(root: string, maxDepth: number, skip: (rel: string) => boolean = () => false): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, depth: number) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const full = path.join(dir, e.name);
      const rel = path.relative(root, full);
      if (skip(rel)) continue;
      out.push(rel);
      if (e.isDirectory() && depth < maxDepth) await walk(full, depth + 1);
    }
  };
  await walk(root, 0);
  return out.sort();
}

// ---------------------------------------------------------------------------------------------------

describe('upload fuzzing: every hostile upload is a clean 4xx that leaves nothing behind', () => {
  let stack: Stack;
  let tmpRoot: string;
  let uploadsDir: string;
  let token: string;
  let good: { file: string; text: string };
  let goodBytes: Buffer;
  let tmpSnapshot: string[];
  const hostileNames: string[] = [];

  const uploadsLeft = async () => (await readdir(uploadsDir).catch(() => [] as string[])).filter((n) => !n.startsWith('.'));
  const jobKeys = async () => (await stack.redis.keys('talkie:job:*')).sort();
  /** storage/uploads empties within a bounded wait (an aborted upload's partial file is removed asynchronously) */
  const expectUploadsDrained = async () => {
    await waitUntil(async () => (await uploadsLeft()).length === 0, 'storage/uploads to be empty', 5_000, 20).catch(async () => {
      throw new Error(`files left in storage/uploads: ${JSON.stringify(await uploadsLeft())}`);
    });
  };
  const expectHealthy = async () => {
    expect(stack.gateway.exitCode).toBeNull();
    expect(stack.gateway.signalCode).toBeNull();
    expect((await fetch(`${stack.baseUrl}/healthz`)).status).toBe(200);
  };
  /** Where a client filename would land if it were ever used as a path: none of these may exist. */
  const landingSpots = (name: string): string[] => {
    const bases = [uploadsDir, path.dirname(uploadsDir), tmpRoot, path.dirname(tmpRoot), os.tmpdir(), ROOT, process.cwd(), '/'];
    const variants = new Set<string>();
    for (const v of [name, name.split('\0')[0]]) {
      if (v.includes('\0')) continue;
      variants.add(v);
      variants.add(v.replace(/\\/g, '/'));
    }
    const spots: string[] = [];
    for (const base of bases) for (const v of variants) spots.push(path.resolve(base, v));
    return spots.filter((p) => path.basename(p).includes(MARKER));
  };
  const existing = (p: string) => {
    try {
      lstatSync(p);
      return true;
    } catch {
      return false; // ENOENT, ENAMETOOLONG…
    }
  };

  beforeAll(async () => {
    stack = await startStack({
      name: 'upload-fuzz',
      workers: 1,
      gatewayEnv: {
        MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
        MAX_DURATION_S: '5',
        // fuzzing makes hundreds of requests: keep the rate limits out of the way (tested elsewhere)
        RATE_LIMIT_MAX: '100000',
        RATE_LIMIT_JOBS_MAX: '100000',
        LOG_LEVEL: 'warn',
      },
      workerEnv: { INTRA_OP_THREADS: '1' },
    });
    token = stack.token('fuzzer');
    tmpRoot = path.dirname(stack.storageDir);
    uploadsDir = path.join(stack.storageDir, 'uploads');
    const rendered = await fixture('FUZZ OK');
    good = { file: rendered.file, text: rendered.text };
    goodBytes = await readFile(good.file);
    expect(goodBytes.length).toBeLessThan(MAX_UPLOAD_BYTES);
    tmpSnapshot = await listFiles(tmpRoot, 8, (rel) => rel.startsWith(path.join('storage', 'uploads')) || path.basename(rel).startsWith('.ping-'));
  }, 60_000);

  afterAll(async () => {
    if (process.env.FUZZ_STATS) console.log([...tally].sort().map(([k, n]) => `${String(n).padStart(4)}  ${k}`).join('\n'));
    await stack?.stop();
  });

  /** Runs one property with the per-case invariants; the cross-case ones are checked in afterEach. */
  const check = async <T>(label: string, arb: fc.Arbitrary<T>, numRuns: number, send: (value: T) => Promise<void>) => {
    const before = await jobKeys();
    currentProperty = label;
    await fc.assert(
      fc.asyncProperty(arb, async (value) => {
        await send(value);
        await expectUploadsDrained();
        expect(await jobKeys()).toEqual(before);
      }),
      { numRuns, seed: SEED, interruptAfterTimeLimit: 90_000, markInterruptAsFailure: true },
    );
    await expectHealthy();
  };

  afterEach(async () => {
    await expectHealthy();
    // nothing new in the stack's temp folder besides what storage/uploads held (and now does not)
    const now = await listFiles(tmpRoot, 8, (rel) => rel.startsWith(path.join('storage', 'uploads')) || path.basename(rel).startsWith('.ping-'));
    expect(now.filter((f) => !tmpSnapshot.includes(f))).toEqual([]);
    // (the worker marks a job completed a moment before it deletes the upload: poll, bounded)
    await expectUploadsDrained();
    for (const name of hostileNames) for (const spot of landingSpots(name)) expect([spot, existing(spot)]).toEqual([spot, false]);
  });

  // ----- arbitraries --------------------------------------------------------------------------------

  // .ts (MPEG-TS) and .vob stay refused whatever their bytes
  const extension = fc.constantFrom('.mp4', '.MP4', '.mov', '.webm', '.mkv', '.avi', '.mpg', '.MPEG', '.ts', '.vob', '.txt', '.m3u8', '.html', '', '.mp4.exe', '.exe.mp4', '.mp4.', '.mp4 ');
  const family = fc.constantFrom<Family>('isobmff', 'matroska', 'avi', 'mpeg-ps');
  // RFC 2046 boundary characters that are also RFC 9110 token characters (usable unquoted)
  const boundary = fc.stringMatching(/^[A-Za-z0-9'+_.\-]{1,60}$/).map((b) => `${b}X`);

  const hostileStem = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.constant('\0'),
    fc.string({ maxLength: 10 }).map((s) => `${s}\0.mp4`),
    fc.constant('\u202Egpm'), // RTL override: "xyz\u202Egpm.exe" displays as "xyzexe.mp4"
    fc.constant('\u202E4pm.exe'),
    fc.constant('a'.repeat(5_000)),
    fc.constant('\u202E'.repeat(5_000)), // 15,000 bytes of UTF-8: near busboy's 16 KiB header bound
    fc.constant('é'.repeat(9_000)), // beyond it
    fc.constant('%2e%2e%2f%2e%2e%2f'),
    fc.constant('CON'),
    fc.constant(' '),
  );
  const pathPrefix = fc.constantFrom('', '../', '../../', '../../../../../../../../tmp/', '/etc/', '..\\..\\', 'uploads/../../', './', '....//....//', '/');
  // (lone surrogates become U+FFFD, as any UTF-8 encoder would send them)
  const hostileFilename = fc
    .tuple(pathPrefix, hostileStem, extension)
    .map(([prefix, stem, ext]) => Buffer.from(`${prefix}${MARKER}${stem}${ext}`, 'utf8').toString('utf8'));
  const encoding = fc.constantFrom<'quoted' | 'rfc5987' | 'bare' | 'raw-latin1'>('quoted', 'quoted', 'rfc5987', 'bare', 'raw-latin1');
  const partType = fc.option(
    fc.constantFrom('video/mp4', 'text/html', 'application/vnd.apple.mpegurl', 'image/svg+xml', 'application/octet-stream', 'multipart/mixed; boundary=inner', 'video/webm; codecs="vp9"', 'x/y; a=', ';;;'),
    { nil: undefined },
  );
  /** Garbage that passes the magic-byte sniff for `fam`, so it reaches ffprobe. */
  const sniffableGarbage = (fam: Family) => fc.uint8Array({ maxLength: 3_000 }).map((tail) => Buffer.concat([MAGIC[fam], Buffer.from(tail)]));

  const bigBody = (size: number, seed: number, head?: Buffer): Buffer => {
    const body = Buffer.alloc(size);
    let a = seed >>> 0;
    for (let i = 0; i < size; i += 4) {
      a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
      body.writeUInt32LE(a, Math.min(i, size - 4));
    }
    head?.copy(body);
    return body;
  };

  // ----- properties ---------------------------------------------------------------------------------

  it('random bytes as the "video" part: 415 unless they sniff as the promised container, then 4xx from ffprobe', async () => {
    const arb = fc.record({
      ext: extension,
      magic: fc.option(family, { nil: undefined }),
      tail: fc.uint8Array({ maxLength: 4_096 }),
      framing: fc.constantFrom<Framing>('length', 'chunked'),
      boundary,
    });
    await check('random-bytes', arb, 60, async ({ ext, magic, tail, framing, boundary: b }) => {
      const data = Buffer.concat([magic ? MAGIC[magic] : Buffer.alloc(0), Buffer.from(tail)]);
      const { body } = multipart(b, [{ disposition: disposition('video', `clip${ext}`), contentType: 'video/mp4', data }]);
      const outcome = await rawPost(stack.baseUrl, body, { headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${b}` }, framing });
      expectClean4xx(outcome, false);
      const promised = FAMILY_OF[path.extname(`clip${ext}`).toLowerCase()];
      const reachesProbe = magic !== undefined && promised === magic;
      const status = outcome.kind === 'answer' && outcome.status;
      if (reachesProbe) expect(status).toBe(422);
      else if (magic === undefined && promised) expect([415, 422]).toContain(status); // random bytes might sniff
      else expect([status, codeOf(outcome)]).toEqual([415, 'unsupported_media_type']);
    });
  }, 120_000);

  it('hostile filenames (../, NUL, U+202E, 5,000+ characters, odd encodings) are never used as paths', async () => {
    const arb = fc.record({ filename: hostileFilename, encoding, magic: fc.option(family, { nil: undefined }), framing: fc.constantFrom<Framing>('length', 'chunked') });
    await check('filenames', arb, 60, async ({ filename, encoding: enc, magic, framing }) => {
      hostileNames.push(filename);
      // a real MP4's first 64 bytes (passes the sniff for .mp4/.mov, fails in ffprobe) or other garbage
      const data = magic ? Buffer.concat([MAGIC[magic], randomBytes(200)]) : goodBytes.subarray(0, 64);
      const { body } = multipart('fuzzboundary', [{ disposition: disposition('video', filename, enc), contentType: 'video/mp4', data }]);
      const outcome = await rawPost(stack.baseUrl, body, { headers: { authorization: `Bearer ${token}`, 'content-type': 'multipart/form-data; boundary=fuzzboundary' }, framing });
      expectClean4xx(outcome, false);
      expect([400, 413, 415, 422]).toContain(outcome.kind === 'answer' && outcome.status);
      for (const spot of landingSpots(filename)) expect([spot, existing(spot)]).toEqual([spot, false]);
    });
  }, 120_000);

  it('contradictory Content-Type headers on the request and the part', async () => {
    const requestType = fc.constantFrom(
      (b: string) => `multipart/form-data; boundary=${b}`,
      (b: string) => `multipart/form-data; boundary="${b}"`,
      (b: string) => `Multipart/Form-Data; charset=utf-16; boundary=${b}`,
      (b: string) => `multipart/form-data; boundary=${b}; boundary=other`,
      (b: string) => `multipart/mixed; boundary=${b}`,
      (b: string) => `multipart/related; type="video/mp4"; boundary=${b}`,
      () => 'multipart/form-data',
      () => 'multipart/form-data; boundary=',
      () => 'multipart/form-data; boundary=""',
      () => 'multipart/form-data; boundary=not-the-one',
      () => 'multipart/form-data; boundary=' + 'x'.repeat(300),
      () => 'video/mp4',
      () => 'application/octet-stream',
      () => 'application/json',
      () => 'application/x-www-form-urlencoded',
      () => 'text/plain; boundary=fuzz',
      () => 'form-data; boundary=fuzz',
      () => '',
      () => ';',
    );
    const arb = fc.record({
      requestType,
      partType,
      fam: family,
      data: fc.oneof(family.chain(sniffableGarbage), fc.uint8Array({ maxLength: 1_000 }).map((u) => Buffer.from(u)), fc.constant(Buffer.alloc(0))),
      framing: fc.constantFrom<Framing>('length', 'chunked'),
    });
    await check('content-types', arb, 50, async ({ requestType: type, partType: pt, data, framing }) => {
      const b = 'fuzzB0undary';
      const { body } = multipart(b, [{ disposition: disposition('video', 'clip.mp4'), contentType: pt, data }]);
      const ct = type(b);
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      if (ct) headers['content-type'] = ct;
      const outcome = await rawPost(stack.baseUrl, body, { headers, framing });
      expectClean4xx(outcome, false);
      if (!/^multipart\/form-data\s*(;|$)/i.test(ct)) expect([outcome.kind === 'answer' && outcome.status, codeOf(outcome)]).toEqual([415, 'unsupported_media_type']);
      if (/^multipart\/form-data(; boundary=(""|not-the-one)?)?$/.test(ct)) expect(outcome.kind === 'answer' && outcome.status).toBe(400);
    });
  }, 120_000);

  it('truncated multipart bodies, honestly framed or cut off mid-stream', async () => {
    const arb = fc.record({
      content: fc.oneof(fc.constant('real'), fc.constant('garbage')),
      cutFraction: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
      framing: fc.constantFrom<Framing>('length', 'chunked', 'lie-then-destroy', 'lie-then-half-close'),
      extraField: fc.boolean(),
    });
    await check('truncated', arb, 60, async ({ content, cutFraction, framing, extraField }) => {
      const data = content === 'real' ? goodBytes : Buffer.concat([MAGIC.isobmff, randomBytes(20_000)]);
      const parts: Part[] = [];
      if (extraField) parts.push({ disposition: disposition('note'), data: Buffer.from('hello') });
      parts.push({ disposition: disposition('video', 'clip.mp4'), contentType: 'video/mp4', data });
      const { body, fileDataEnd } = multipart('cutB', parts);
      // Cut before the file part's closing delimiter: the file is never complete, so it must never
      // be accepted (a cut after it would leave a complete, valid upload).
      const cut = Math.floor(cutFraction * fileDataEnd[fileDataEnd.length - 1]);
      const sent = body.subarray(0, cut);
      const outcome = await rawPost(stack.baseUrl, sent, {
        headers: { authorization: `Bearer ${token}`, 'content-type': 'multipart/form-data; boundary=cutB' },
        framing,
        declaredLength: body.length,
      });
      const broken = framing.startsWith('lie');
      expectClean4xx(outcome, broken);
      if (!broken) expect([400, 415, 422]).toContain(outcome.kind === 'answer' && outcome.status);
    });
  }, 120_000);

  it('oversized bodies: 413 while streaming (415 first when the magic bytes are wrong)', async () => {
    const arb = fc.record({
      extra: fc.integer({ min: 1, max: 80_000 }),
      seed: fc.integer(),
      fam: fc.option(family, { nil: undefined }),
      framing: fc.constantFrom<Framing>('length', 'chunked'),
    });
    await check('oversized', arb, 30, async ({ extra, seed, fam, framing }) => {
      const ext = fam === 'matroska' ? '.mkv' : fam === 'avi' ? '.avi' : fam === 'mpeg-ps' ? '.mpg' : '.mp4';
      const data = bigBody(MAX_UPLOAD_BYTES + extra, seed, fam ? MAGIC[fam] : Buffer.from('definitely not a video'));
      const { body } = multipart('bigB', [{ disposition: disposition('video', `big${ext}`), contentType: 'video/mp4', data }]);
      const outcome = await rawPost(stack.baseUrl, body, { headers: { authorization: `Bearer ${token}`, 'content-type': 'multipart/form-data; boundary=bigB' }, framing });
      expectClean4xx(outcome, false);
      expect([outcome.kind === 'answer' && outcome.status, codeOf(outcome)]).toEqual(fam ? [413, 'payload_too_large'] : [415, 'unsupported_media_type']);
    });
  }, 120_000);

  it('odd part lists: repeated, missing, unnamed and surplus parts', async () => {
    const partArb = fc.record({
      name: fc.constantFrom('video', 'video', 'file', 'note', '', 'video[]', 'x'.repeat(100)),
      isFile: fc.boolean(),
      data: fc.oneof(family.chain(sniffableGarbage), fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u))),
    });
    await check('part-lists', fc.array(partArb, { minLength: 0, maxLength: 12 }), 40, async (list) => {
      const parts = list.map((p) => ({ disposition: disposition(p.name, p.isFile ? 'clip.mp4' : undefined), data: p.data }));
      const { body } = multipart('partsB', parts);
      const outcome = await rawPost(stack.baseUrl, body, { headers: { authorization: `Bearer ${token}`, 'content-type': 'multipart/form-data; boundary=partsB' }, framing: 'length' });
      expectClean4xx(outcome, false);
    });
  }, 120_000);

  it('hostile webhook_url fields and Idempotency-Key headers beside a good video', async () => {
    // Literal addresses and schemes only: nothing here needs name resolution. The tenant has no
    // webhook secret, so even an acceptable public https URL is refused (webhook_secret_missing).
    const webhookUrl = fc.oneof(
      fc.constantFrom(
        'http://169.254.169.254/latest/meta-data/',
        'https://169.254.169.254/',
        'https://127.0.0.1/hook',
        'https://[::1]/hook',
        'https://[::ffff:127.0.0.1]/hook',
        'https://0x7f000001/hook',
        'https://2130706433/hook',
        'https://10.0.0.1/hook',
        'https://user:pw@93.184.216.34/hook',
        'file:///etc/passwd',
        'javascript:alert(1)',
        'gopher://127.0.0.1:6379/_FLUSHALL',
        'https://93.184.216.34/hook',
        `https://93.184.216.34/${'a'.repeat(3_000)}`,
        '',
      ),
      fc.string({ unit: 'binary', maxLength: 100 }),
    );
    const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 40 });
    const idempotencyKey = fc.option(fc.oneof(printable, fc.constantFrom('a'.repeat(256), 'tab\there', 'é-latin1', ' ')), { nil: undefined });
    const arb = fc.record({ webhookUrl, twice: fc.boolean(), idempotencyKey });
    await check('fields-headers', arb, 40, async ({ webhookUrl: url, twice, idempotencyKey: key }) => {
      const field = { disposition: disposition('webhook_url'), data: Buffer.from(url, 'utf8') };
      const parts: Part[] = [field, ...(twice ? [field] : []), { disposition: disposition('video', 'clip.mp4'), contentType: 'video/mp4', data: goodBytes }];
      const { body } = multipart('fieldsB', parts);
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'content-type': 'multipart/form-data; boundary=fieldsB' };
      if (key !== undefined) headers['idempotency-key'] = Buffer.from(key, 'latin1').toString('latin1');
      const outcome = await rawPost(stack.baseUrl, body, { headers, framing: 'length' });
      expectClean4xx(outcome, false);
    });
  }, 120_000);

  // ----- fixed corpus -------------------------------------------------------------------------------

  describe('fixed corpus of hostile files', () => {
    const dir = path.join(ARTIFACTS, 'fuzz-corpus');
    const corpus: Record<string, string> = {};
    beforeAll(async () => {
      await mkdir(dir, { recursive: true });
      const { ffmpeg } = await resolveFfmpeg();
      const ff = (args: string[]) => run(ffmpeg, ['-y', '-v', 'error', ...args], { timeout: 60_000 });
      const at = (name: string) => (corpus[name.replace(/\..*$/, '')] = path.join(dir, name));
      await writeFile(at('hls.mp4'), '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nfile:///etc/passwd\n#EXTINF:10.0,\nhttp://169.254.169.254/latest/meta-data/\n#EXT-X-ENDLIST\n');
      await writeFile(at('ffconcat.mp4'), 'ffconcat version 1.0\nfile /etc/passwd\nfile ../../../../etc/hostname\n');
      await writeFile(at('zero.mp4'), '');
      await writeFile(at('truncated.mp4'), goodBytes.subarray(0, 64));
      // a real ftyp box, then a ZIP and then an HTML payload
      const ftypSize = goodBytes.readUInt32BE(0);
      expect(goodBytes.toString('latin1', 4, 8)).toBe('ftyp');
      const zip = Buffer.concat([Buffer.from('504b0304140000000800', 'hex'), Buffer.alloc(20), Buffer.from('evil.html'), Buffer.from('<script>alert(1)</script>')]);
      await writeFile(at('polyglot.mp4'), Buffer.concat([goodBytes.subarray(0, ftypSize), zip, Buffer.from('<!doctype html><html><body><script>fetch("/v1/jobs")</script></body></html>\n')]));
      const webm = await fixture('FUZZ OK', { format: 'webm' });
      await writeFile(at('webm-named.mp4'), await readFile(webm.file));
      await ff(['-f', 'lavfi', '-i', 'color=c=gray:s=4000x2200:r=25:d=0.04', '-frames:v', '1', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', at('huge-frame.mp4')]);
      const streams = ['-f', 'lavfi', '-i', 'color=c=gray:s=64x64:r=25:d=1', '-f', 'lavfi', '-i', 'anullsrc=r=8000:cl=mono', '-map', '0:v'];
      for (let i = 0; i < 9; i++) streams.push('-map', '1:a');
      await ff([...streams, '-t', '1', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', at('ten-streams.mkv')]);
      await ff(['-f', 'lavfi', '-i', 'anullsrc=r=8000:cl=mono', '-t', '1', '-c:a', 'aac', at('audio-only.mkv')]);
      // MPEG-PS is accepted as .mpg; a transport stream is not, whatever it is called
      const mpeg = ['-f', 'lavfi', '-i', 'color=c=gray:s=64x64:r=25:d=1', '-c:v', 'mpeg2video'];
      await ff([...mpeg, '-f', 'mpegts', at('ts-named.mpg')]);
      await ff([...mpeg, '-f', 'mpegts', at('transport.ts')]);
      await ff([...mpeg, '-f', 'vob', at('ps-named.mp4')]);
      const long = await fixture('TOO LONG', { padSeconds: 4 });
      expect(long.duration_s).toBeGreaterThan(5);
      expect(long.duration_s).toBeLessThan(10);
      corpus['long'] = long.file;
    }, 60_000);

    it.each([
      ['an HLS playlist named .mp4', 'hls', 415, 'unsupported_media_type'],
      ['an ffconcat script named .mp4', 'ffconcat', 415, 'unsupported_media_type'],
      ['a zero-byte file', 'zero', 415, 'unsupported_media_type'],
      ['a truncated MP4 (first 64 bytes of a real one)', 'truncated', 422, 'invalid_media'],
      ['an MP4 with 4000×2200 frames (over MAX_FRAME_PIXELS)', 'huge-frame', 422, 'frame_too_large'],
      ['a 7-second video (over MAX_DURATION_S=5)', 'long', 422, 'video_too_long'],
      ['a polyglot: an MP4 ftyp box followed by ZIP and HTML', 'polyglot', 422, 'invalid_media'],
      ['a WebM file named .mp4', 'webm-named', 415, 'unsupported_media_type'],
      ['a file with 10 streams (over MAX_STREAMS=8)', 'ten-streams', 422, 'too_many_streams'],
      ['an audio-only .mkv', 'audio-only', 422, 'no_video_stream'],
      ['an MPEG transport stream named .mpg', 'ts-named', 415, 'unsupported_media_type'],
      ['an MPEG transport stream (.ts)', 'transport', 415, 'unsupported_media_type'],
      ['an MPEG program stream named .mp4', 'ps-named', 415, 'unsupported_media_type'],
    ])('refuses %s with %s %s, queues nothing and stores nothing', async (_what, key, status, code) => {
      const before = await jobKeys();
      const res = await submit(stack.baseUrl, token, corpus[key]);
      expect([res.status, res.body]).toEqual([status, { error: { code, message: expect.any(String), request_id: expect.any(String) } }]);
      expect(JSON.stringify(res.body)).not.toMatch(LEAK);
      expect(await jobKeys()).toEqual(before);
      await expectUploadsDrained();
    });

    it('stores a good video sent under a ../ filename under its generated key only, and reads it', async () => {
      const name = `../../${MARKER}-evil.mp4`;
      hostileNames.push(name, `${MARKER}-evil.mp4`);
      const form = new FormData();
      form.append('video', new Blob([new Uint8Array(goodBytes)]), name);
      const res = await fetch(`${stack.baseUrl}/v1/jobs`, { method: 'POST', body: form, headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      // stored under the job's id (or already consumed by the worker), never under the client's name
      expect((await uploadsLeft()).filter((n) => n !== id)).toEqual([]);
      const job = await waitForJob(stack.baseUrl, token, id);
      expect(job.status).toBe('completed');
      expect(job.result?.text).toBe(good.text);
      await expectUploadsDrained();
    });
  });

  it('nothing carrying the fuzz marker exists in os.tmpdir() or the repository', async () => {
    const hits = [
      ...(await listFiles(os.tmpdir(), 4)).filter((f) => f.includes(MARKER)).map((f) => path.join(os.tmpdir(), f)),
      ...(await listFiles(ROOT, 5, (rel) => /(^|\/)(node_modules|\.git|\.turbo)$/.test(rel))).filter((f) => f.includes(MARKER)).map((f) => path.join(ROOT, f)),
    ];
    expect(hits).toEqual([]);
  });

  it('stays healthy, and a good upload still completes after all of the above', async () => {
    await expectHealthy();
    expect((await fetch(`${stack.baseUrl}/readyz`)).status).toBe(200);
    const created = await submit(stack.baseUrl, token, good.file);
    expect(created.status).toBe(202);
    const job = await waitForJob(stack.baseUrl, token, created.body.id);
    expect(job.result?.text).toBe(good.text);
    await expectUploadsDrained();
    expect(stack.workers.every((w) => w.exitCode === null)).toBe(true);
  });
});
