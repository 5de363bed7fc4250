import { mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { paddedMp4Multipart, paddedMp4Raw } from '../fixtures';
import { rssBytes, sampleRss } from '../procs';
import { fmt, median, ratio } from '../report';
import { startStack } from '../stack';
import { startBaselineServer } from './throughput';
import type { RowSpec } from './types';

const MB = 1_000_000;
const MiB = 2 ** 20;
const RSS_LIMIT = 64 * MiB;

interface Upload {
  status: number;
  seconds: number;
  body: string;
}

/** One POST, the body streamed from a generator (never whole in memory); timed to the last byte of the answer. */
function post(url: string, headers: Record<string, string | number>, body: () => Readable): Promise<Upload> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.request(url, { method: 'POST', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, seconds: (performance.now() - started) / 1000, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    pipeline(body(), req).catch(reject);
  });
}

interface SizeFigures {
  bytes: number;
  runs: number;
  mb_per_s: number;
  seconds: number[];
  rss_before_bytes: number[];
  rss_peak_bytes: number[];
  rss_growth_bytes: number;
}

interface Target {
  name: string;
  pid: number;
  expectStatus: number;
  /** builds the upload of `bytes` once; the function it returns sends it */
  prepare(bytes: number): Promise<() => Promise<Upload>>;
  cleanUp(u: Upload): Promise<void>;
}

/** One timed upload with the server's RSS sampled every 5 ms around it. */
async function measureOnce(target: Target, send: () => Promise<Upload>, into: SizeFigures): Promise<void> {
  const before = rssBytes(target.pid);
  const sampler = sampleRss(target.pid, 5);
  const u = await send();
  const peak = sampler.stop();
  if (u.status !== target.expectStatus) throw new Error(`${target.name}: an upload of ${into.bytes} bytes answered ${u.status}: ${u.body.slice(0, 300)}`);
  into.seconds.push(u.seconds);
  into.rss_before_bytes.push(before);
  into.rss_peak_bytes.push(peak);
  await target.cleanUp(u);
}

function finish(f: SizeFigures): SizeFigures {
  f.mb_per_s = f.bytes / MB / median(f.seconds);
  f.rss_growth_bytes = Math.max(...f.rss_peak_bytes.map((p, i) => p - f.rss_before_bytes[i]));
  return f;
}

/**
 * Row 3: upload ingest. The gateway (no workers: the jobs stay queued) takes multipart uploads of
 * 10 MB and 100 MB (1 GB with --big), each a valid MP4 padded with a `free` box; the baseline is
 * node's http server streaming the bare body to a file on the same disk. MB/s over the median run,
 * and the largest growth of the server's RSS during one upload (sampled every 5 ms from /proc).
 */
export const ingestRow: RowSpec = {
  id: 3,
  name: 'upload ingest',
  target: '≥ 0.5 of raw MB/s; RSS growth ≤ 64 MiB',
  async run(ctx) {
    const sizes: Array<{ bytes: number; runs: number }> = [
      { bytes: 10 * MB, runs: 5 },
      { bytes: 100 * MB, runs: 3 },
      ...(ctx.big ? [{ bytes: 1_000 * MB, runs: 1 }] : []),
    ];
    const fixture = ctx.fixtures.short.file;
    const largest = Math.max(...sizes.map((s) => s.bytes));
    const talkie: SizeFigures[] = [];
    const raw: SizeFigures[] = [];

    const stack = await startStack({
      name: 'ingest',
      db: 7,
      workers: 0,
      tmp: ctx.tmp,
      demoModelDir: ctx.demoModelDir,
      gatewayEnv: { MAX_UPLOAD_BYTES: String(largest + MB), REQUEST_TIMEOUT_MS: '600000' },
    });
    const rawDir = path.join(ctx.tmp, 'raw-uploads');
    mkdirSync(rawDir, { recursive: true });
    try {
      const server = await startBaselineServer('raw-upload', ctx.tmp, { UPLOAD_DIR: rawDir });
      try {
        const token = stack.token('bench-ingest');
        const uploadsDir = path.join(stack.storageDir, 'uploads');
        const gateway: Target = {
          name: 'gateway',
          pid: stack.gateway.child.pid!,
          expectStatus: 202,
          async prepare(bytes) {
            const body = await paddedMp4Multipart(fixture, bytes);
            return () => post(`${stack.baseUrl}/v1/jobs`, { authorization: `Bearer ${token}`, 'content-type': body.contentType, 'content-length': body.length }, body.stream);
          },
          cleanUp: () => rm(uploadsDir, { recursive: true, force: true }),
        };
        const baseline: Target = {
          name: 'raw http',
          pid: server.proc.child.pid!,
          expectStatus: 201,
          async prepare(bytes) {
            const body = await paddedMp4Raw(fixture, bytes);
            return () => post(`${server.baseUrl}/upload`, { 'content-type': 'video/mp4', 'content-length': body.length }, body.stream);
          },
          cleanUp: (u) => rm((JSON.parse(u.body) as { file: string }).file, { force: true }),
        };
        // warm-up of both (JIT, first file in the folder)
        for (const target of [gateway, baseline]) {
          const u = await (await target.prepare(10 * MB))();
          if (u.status !== target.expectStatus) throw new Error(`${target.name}: warm-up upload answered ${u.status}: ${u.body.slice(0, 300)}`);
          await target.cleanUp(u);
        }
        for (const { bytes, runs } of sizes) {
          ctx.log(`  ${runs} × ${bytes / MB} MB to each, interleaved`);
          const t: SizeFigures = { bytes, runs, mb_per_s: NaN, seconds: [], rss_before_bytes: [], rss_peak_bytes: [], rss_growth_bytes: NaN };
          const b: SizeFigures = { ...t, seconds: [], rss_before_bytes: [], rss_peak_bytes: [] };
          const sendGateway = await gateway.prepare(bytes);
          const sendRaw = await baseline.prepare(bytes);
          for (let i = 0; i < runs; i++) {
            await measureOnce(gateway, sendGateway, t);
            await measureOnce(baseline, sendRaw, b);
          }
          talkie.push(finish(t));
          raw.push(finish(b));
        }
      } finally {
        await server.proc.stop();
      }
    } finally {
      await stack.stop();
      await rm(rawDir, { recursive: true, force: true });
    }

    // t = fixed + bytes / rate, fitted through the two smallest sizes: what each upload costs
    // whatever its size (checks, probing, queueing) and the streaming rate beyond it.
    const fit = (f: SizeFigures[]) => {
      const [a, b] = f;
      const ta = median(a.seconds);
      const tb = median(b.seconds);
      const perByte = (tb - ta) / (b.bytes - a.bytes);
      return { fixed_ms: (ta - perByte * a.bytes) * 1000, streaming_mb_per_s: perByte > 0 ? 1 / perByte / MB : NaN };
    };
    const talkieFit = fit(talkie);
    const rawFit = fit(raw);
    const ratios = talkie.map((t, i) => ratio(t.mb_per_s, raw[i].mb_per_s));
    const worst = Math.min(...ratios.map((r) => r ?? 0));
    const growth = Math.max(...talkie.map((t) => t.rss_growth_bytes));
    const label = (bytes: number) => (bytes >= 1_000 * MB ? `${bytes / (1_000 * MB)} GB` : `${bytes / MB} MB`);
    const list = (f: SizeFigures[]) => f.map((s) => `${label(s.bytes)} ${fmt(s.mb_per_s)} MB/s`).join(', ');
    return {
      talkie: `${list(talkie)}; RSS growth ≤ ${fmt(growth / MiB)} MiB`,
      baseline: `raw http: ${list(raw)}; RSS growth ≤ ${fmt(Math.max(...raw.map((r) => r.rss_growth_bytes)) / MiB)} MiB`,
      ratio: worst,
      ratioLabel: 'MB/s gateway / raw, worst size',
      checks: [
        { label: 'MB/s ratio (worst size)', value: worst, op: '>=', limit: 0.5 },
        { label: 'gateway RSS growth (MiB)', value: growth / MiB, op: '<=', limit: RSS_LIMIT / MiB },
      ],
      figures: { fit: talkieFit, sizes: talkie, ratios_by_size: Object.fromEntries(talkie.map((t, i) => [label(t.bytes), ratios[i]])) },
      baselineFigures: { fit: rawFit, sizes: raw },
      notes: [
        'uploads: a real MP4 fixture followed by a `free` box up to the size, multipart field "video", streamed by an http client in the bench process over loopback; no workers run',
        `fixed cost per upload + streaming rate (fitted through 10 and 100 MB): gateway ${fmt(talkieFit.fixed_ms)} ms + ${fmt(talkieFit.streaming_mb_per_s)} MB/s; raw ${fmt(rawFit.fixed_ms)} ms + ${fmt(rawFit.streaming_mb_per_s)} MB/s`,
        `MB = 10^6 bytes; median of ${sizes.map((s) => s.runs).join('/')} runs per size; RSS sampled every 5 ms from /proc/<pid>/status`,
      ],
    };
  },
};
