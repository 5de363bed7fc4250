import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { submit } from '../client';
import { runLoad, type LoadResult } from '../load';
import { freePort, httpOk, spawnNode, waitUntil } from '../procs';
import { fmt, ratio } from '../report';
import { startStack } from '../stack';
import type { RowSpec } from './types';

const CONNECTIONS = 32;
const DURATION_S = 5;
const WARMUP_S = 1;
const ROUNDS = 2;

/** Starts one of the bench's own baseline servers (bench/dist/servers/NAME.js) and waits for /healthz. */
export async function startBaselineServer(name: string, tmp: string, env: Record<string, string>, label = name) {
  const port = await freePort();
  mkdirSync(path.join(tmp, 'logs'), { recursive: true });
  const proc = spawnNode(label, path.join(__dirname, '..', 'servers', `${name}.js`), { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmp, PORT: String(port), ...env }, path.join(tmp, 'logs', `${label}.log`));
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitUntil(() => httpOk(`${baseUrl}/healthz`), `${label} (log: ${proc.logFile})`, 60_000, 100, proc.child);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { baseUrl, proc };
}

const describe = (r: LoadResult) => `${fmt(r.rps)} req/s (p50 ${fmt(r.latency.p50)} ms, p99 ${fmt(r.latency.p99)} ms)`;
const load = (r: LoadResult) => ({ req_per_s: r.rps, ok: r.ok, non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts, duration_s: r.durationS, latency_ms: r.latency });

/**
 * Row 2: authenticated GET /v1/jobs/{id} per second on the real gateway (JWT verification, request
 * id, logging middleware, helmet, one Redis HGETALL; its rate limiter too where it has one, set out of
 * reach) against express 5 answering a small JSON with nothing else. autocannon saturates each with
 * 32 connections, in interleaved rounds; each side's best round counts (the one least disturbed by
 * other work on the machine). autocannon runs in this process, on the other core.
 */
export const throughputRow: RowSpec = {
  id: 2,
  name: 'gateway throughput',
  target: '≥ 0.5 of bare express req/s',
  async run(ctx) {
    const stack = await startStack({ name: 'throughput', db: 7, workers: 0, tmp: ctx.tmp, demoModelDir: ctx.demoModelDir });
    const talkie: LoadResult[] = [];
    const bare: LoadResult[] = [];
    const steps: Record<string, LoadResult> = {};
    try {
      const servers = [];
      try {
        for (const variant of ['bare', 'jwt', 'jwt-redis']) {
          servers.push(await startBaselineServer('bare-express', ctx.tmp, { VARIANT: variant, JWT_SECRET: stack.secret, REDIS_URL: stack.redisUrl }, `bare-express-${variant}`));
        }
        const token = stack.token('bench-throughput');
        const job = await submit(stack.baseUrl, token, ctx.fixtures.short.file); // stays queued: no workers
        const auth = { authorization: `Bearer ${token}` };
        for (let round = 0; round < ROUNDS; round++) {
          talkie.push(await runLoad({ url: `${stack.baseUrl}/v1/jobs/${job.id}`, headers: auth, connections: CONNECTIONS, durationS: DURATION_S, warmupS: WARMUP_S }));
          bare.push(await runLoad({ url: `${servers[0].baseUrl}/v1/jobs/${job.id}`, connections: CONNECTIONS, durationS: DURATION_S, warmupS: WARMUP_S }));
        }
        // where the difference goes: the gateway's own costs added to the bare handler one by one
        ctx.log('  bare express + jsonwebtoken.verify, + Redis HGETALL');
        steps.jwt = await runLoad({ url: `${servers[1].baseUrl}/v1/jobs/${job.id}`, headers: auth, connections: CONNECTIONS, durationS: DURATION_S, warmupS: WARMUP_S });
        steps['jwt-redis'] = await runLoad({ url: `${servers[2].baseUrl}/v1/jobs/${job.id}`, headers: auth, connections: CONNECTIONS, durationS: DURATION_S, warmupS: WARMUP_S });
      } finally {
        await Promise.all(servers.map((s) => s.proc.stop()));
      }
    } finally {
      await stack.stop();
    }
    const best = (runs: LoadResult[]) => runs.reduce((a, b) => (b.rps > a.rps ? b : a));
    const t = best(talkie);
    const b = best(bare);
    const r = ratio(t.rps, b.rps);
    const notes = [
      `autocannon, ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds of ${DURATION_S} s (after ${WARMUP_S} s of warm-up) per server, best round; client in the bench process`,
      `the gap, step by step (one round each): bare ${fmt(b.rps)} req/s → + jsonwebtoken.verify ${fmt(steps.jwt.rps)} → + Redis HGETALL ${fmt(steps['jwt-redis'].rps)} → the gateway ${fmt(t.rps)}`,
    ];
    const rejected = talkie.reduce((n, x) => n + x.non2xx + x.errors, 0);
    if (rejected) notes.push(`gateway: ${rejected} non-2xx answers or errors were not counted`);
    return {
      talkie: `gateway: ${describe(t)}`,
      baseline: `bare express 5: ${describe(b)}`,
      ratio: r,
      ratioLabel: 'gateway / bare',
      checks: [{ label: 'req/s ratio', value: r, op: '>=', limit: 0.5 }],
      figures: { ...load(t), rounds_req_per_s: talkie.map((x) => x.rps) },
      baselineFigures: { ...load(b), rounds_req_per_s: bare.map((x) => x.rps), bare_plus_jwt_verify: load(steps.jwt), bare_plus_jwt_verify_and_hgetall: load(steps['jwt-redis']) },
      notes,
    };
  },
};
