import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { main } from './cli';
import { job, loopback, sendJson, type Handler } from './loopback.testing';

const run = async (argv: string[], env: Record<string, string> = {}) => {
  let out = '';
  let err = '';
  const code = await main(argv, env, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
};

let dir: string;
let clip: string;
let servers: Array<{ close(): Promise<void> }> = [];
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'talkie-cli-'));
  clip = path.join(dir, 'clip.mp4');
  await writeFile(clip, Buffer.from('\0\0\0\x18ftypisom'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});
const serve = async (handlers: Handler[]) => {
  const s = await loopback(handlers);
  servers.push(s);
  return s;
};

describe('talkie CLI', () => {
  it('refuses credentials on the command line, and unknown commands, with status 2', async () => {
    expect(await run(['get', 'x', '--token', 'secret'])).toMatchObject({ code: 2, err: expect.stringContaining("Unknown option '--token'") });
    expect(await run(['frobnicate'])).toMatchObject({ code: 2, err: expect.stringContaining('unknown command') });
    expect(await run([])).toMatchObject({ code: 2, err: expect.stringContaining('Usage: talkie') });
    expect(await run(['result', 'x', '--format', 'pdf'])).toMatchObject({ code: 2, err: expect.stringContaining('--format must be one of') });
    expect(await run(['list', '--limit', '500'])).toMatchObject({ code: 2 });
    expect(await run(['--help'])).toMatchObject({ code: 0, out: expect.stringContaining('TALKIE_TOKEN') });
  });

  it('submit --wait: credentials from the environment, progress on stderr, the transcript on stdout', async () => {
    const server = await serve([
      (_r, res) => sendJson(res, 202, job()),
      (_r, res) => sendJson(res, 200, job({ status: 'processing', progress: 50 })),
      (_r, res) => sendJson(res, 200, job({ status: 'completed', progress: 100 })),
      (_r, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('HELLO\n');
      },
    ]);
    const { code, out, err } = await run(['submit', clip, '--wait'], { TALKIE_URL: server.url, TALKIE_TOKEN: 'jwt-1' });
    expect({ code, out }).toEqual({ code: 0, out: 'HELLO\n' });
    expect(err).toContain('processing 50%');
    expect(server.requests.every((r) => r.headers.authorization === 'Bearer jwt-1')).toBe(true);
    expect(server.requests.at(-1)!.url).toBe(`/v1/jobs/${job().id}/result?format=txt`);
  });

  it('submit --wait: a failed job exits 1 with its error code', async () => {
    const server = await serve([
      (_r, res) => sendJson(res, 202, job()),
      (_r, res) => sendJson(res, 200, job({ status: 'failed', error: { code: 'decode_failed', message: 'The video could not be decoded.' } })),
    ]);
    const { code, out, err } = await run(['submit', clip, '--wait', '--quiet', '--url', server.url], { TALKIE_API_KEY: 'k' });
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toBe(`talkie: job ${job().id} failed: decode_failed: The video could not be decoded.\n`);
    expect(server.requests[0].headers['x-api-key']).toBe('k');
  });

  it('an API error exits 1 with its code and request id', async () => {
    const server = await serve([(_r, res) => sendJson(res, 401, { error: { code: 'unauthorized', message: 'Missing or invalid credentials.', request_id: 'r-1' } })]);
    const { code, err } = await run(['get', job().id, '--url', server.url]);
    expect(code).toBe(1);
    expect(err).toBe('talkie: error unauthorized (HTTP 401): Missing or invalid credentials. [request r-1]\n');
  });

  it('a missing file or a bad extension exits 1 without a request', async () => {
    const server = await serve([(_r, res) => sendJson(res, 202, job())]);
    expect(await run(['submit', path.join(dir, 'nope.mp4'), '--url', server.url])).toMatchObject({ code: 1, err: expect.stringContaining('error enoent') });
    expect(await run(['submit', path.join(dir, 'clip.txt'), '--url', server.url])).toMatchObject({ code: 1, err: expect.stringContaining('unsupported_media_type') });
    expect(server.requests).toHaveLength(0);
  });

  it('list prints the page as JSON', async () => {
    const server = await serve([(_r, res) => sendJson(res, 200, { data: [job()], next_cursor: 'abc' })]);
    const { code, out } = await run(['list', '--status', 'queued', '--limit', '1', '--url', server.url]);
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ data: [job()], next_cursor: 'abc' });
    expect(server.requests[0].url).toBe('/v1/jobs?status=queued&limit=1');
  });
});
