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

  it('no gateway at the URL: exits 1 naming the URL, where it came from, and how to give another', async () => {
    // a port that was just free: nothing listens on it
    const closed = await loopback([]);
    const url = closed.url;
    await closed.close();
    const fromEnv = await run(['get', 'x'], { TALKIE_URL: url, TALKIE_TOKEN: 't' });
    expect(fromEnv.code).toBe(1);
    expect(fromEnv.err).toContain('talkie: error connection_error: ');
    expect(fromEnv.err).toContain(`No gateway answered at ${url} (TALKIE_URL). Give its URL with --url or TALKIE_URL`);
    expect((await run(['get', 'x', '--url', url], { TALKIE_TOKEN: 't' })).err).toContain(`No gateway answered at ${url} (--url).`);
  }, 30_000);

  it('a missing file or a bad extension exits 1 without a request', async () => {
    const server = await serve([(_r, res) => sendJson(res, 202, job())]);
    expect(await run(['submit', path.join(dir, 'nope.mp4'), '--url', server.url])).toMatchObject({ code: 1, err: expect.stringContaining('error enoent') });
    expect(await run(['submit', path.join(dir, 'clip.txt'), '--url', server.url])).toMatchObject({ code: 1, err: expect.stringContaining('unsupported_media_type') });
    expect(server.requests).toHaveLength(0);
  });

  describe('issue 17: alternatives, faces, confidence and warnings', () => {
    const result = {
      text: 'HELLO WORLD',
      segments: [
        { start: 0.4, end: 1.88, text: 'HELLO', confidence: 0.9971 },
        { start: 2.32, end: 2.82, text: 'WORLD', confidence: 0.4123, face: { x: 100, y: 40, width: 120, height: 120 } },
      ],
      duration_s: 3,
      frames: 75,
      model: { name: 'talkie-demo-letters', version: '1.0.0', demo: true },
      alternatives: [
        { text: 'HELLO WORLD', score: -0.29 },
        { text: 'HELLO WORD', score: -6.69 },
      ],
      warnings: [
        { code: 'demo_model', message: 'This is the demo model.' },
        { code: 'low_face_coverage', message: 'The face was found in 60% of the frames.' },
      ],
      face_track: { index: 0, frames: 75, detected_frames: 45, interpolated_frames: 30, longest_gap_frames: 12, mean_detector_score: 0.8, source_fps: 25, model_fps: 25 },
      tracks: [{ face: 1, text: 'BYE', segments: [{ start: 0.5, end: 0.9, text: 'BYE', confidence: 0.5 }], face_track: { index: 1, frames: 75, detected_frames: 75, interpolated_frames: 0, longest_gap_frames: 0, mean_detector_score: 0.9, source_fps: 25, model_fps: 25 } }],
    };
    const WARNINGS = 'talkie: warning demo_model: This is the demo model.\ntalkie: warning low_face_coverage: The face was found in 60% of the frames.\n';

    it('submit --alternatives --face --wait --words: the fields sent, each word with its confidence, the other readings, warnings on stderr', async () => {
      const server = await serve([
        (_r, res) => sendJson(res, 202, job()),
        (_r, res) => sendJson(res, 200, job({ status: 'completed', progress: 100, result })),
        (_r, res) => sendJson(res, 200, result),
      ]);
      const { code, out, err } = await run(['submit', clip, '--alternatives', '3', '--face', 'all', '--wait', '--words', '-q', '--url', server.url]);
      expect({ code, err }).toEqual({ code: 0, err: WARNINGS });
      expect(out).toBe(
        '   0.40    1.88  1.00  HELLO\n' + '   2.32    2.82  0.41  WORLD\n' + '\nother readings (log score):\n' + '   -6.69  HELLO WORD\n',
      );
      const form = server.requests[0].body.toString('latin1');
      expect(form).toMatch(/name="alternatives"\r\n\r\n3\r\n/);
      expect(form).toMatch(/name="face"\r\n\r\nall\r\n/);
      expect(server.requests[2].url).toBe(`/v1/jobs/${job().id}/result?format=json`);
    });

    it('submit --wait prints the plain transcript on stdout and the warnings on stderr; --face 2 is sent as an index', async () => {
      const server = await serve([
        (_r, res) => sendJson(res, 202, job()),
        (_r, res) => sendJson(res, 200, job({ status: 'completed', progress: 100, result })),
        (_r, res) => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('HELLO WORLD\n');
        },
      ]);
      const { code, out, err } = await run(['submit', clip, '--face', '2', '--wait', '--quiet', '--url', server.url]);
      expect({ code, out, err }).toEqual({ code: 0, out: 'HELLO WORLD\n', err: WARNINGS });
      expect(server.requests[0].body.toString('latin1')).toMatch(/name="face"\r\n\r\n2\r\n/);
    });

    it('result --face I asks the gateway for that face; with --words, prints that face\'s words (and no other readings: they are the read face\'s)', async () => {
      const server = await serve([
        (_r, res) => {
          res.writeHead(200, { 'content-type': 'text/vtt' });
          res.end('WEBVTT\n');
        },
        (_r, res) => sendJson(res, 200, result),
      ]);
      expect(await run(['result', job().id, '--format', 'vtt', '--face', '1', '--url', server.url])).toEqual({ code: 0, out: 'WEBVTT\n', err: '' });
      expect(server.requests[0].url).toBe(`/v1/jobs/${job().id}/result?format=vtt&face=1`);
      expect(await run(['result', job().id, '--face', '1', '--words', '--url', server.url])).toEqual({ code: 0, out: '   0.50    0.90  0.50  BYE\n', err: WARNINGS });
      expect(await run(['result', job().id, '--face', '3', '--words', '--url', server.url])).toMatchObject({ code: 1, err: expect.stringContaining('no reading of face 3') });
    });

    it('refuses bad values before any request, with status 2', async () => {
      const server = await serve([(_r, res) => sendJson(res, 202, job())]);
      for (const argv of [
        ['submit', clip, '--alternatives', '11'],
        ['submit', clip, '--alternatives', '2.5'],
        ['submit', clip, '--alternatives', '0'],
        ['submit', clip, '--face', 'left'],
        ['submit', clip, '--face', '4'],
        ['submit', clip, '--words'],
        ['submit', clip, '--wait', '--words', '--format', 'srt'],
        ['result', 'x', '--face', 'all'],
      ]) {
        expect(await run([...argv, '--url', server.url])).toMatchObject({ code: 2 });
      }
      expect(server.requests).toHaveLength(0);
    });
  });

  it('list prints the page as JSON', async () => {
    const server = await serve([(_r, res) => sendJson(res, 200, { data: [job()], next_cursor: 'abc' })]);
    const { code, out } = await run(['list', '--status', 'queued', '--limit', '1', '--url', server.url]);
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ data: [job()], next_cursor: 'abc' });
    expect(server.requests[0].url).toBe('/v1/jobs?status=queued&limit=1');
  });
});
