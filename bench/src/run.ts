#!/usr/bin/env node
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { writeDemoModel } from '@talkie/demo-model';
import { parseExecutionProviders } from '@talkie/inference';
import { createVideoProber, resolveFfmpeg } from '@talkie/media';
import { renderFixtureOf, renderTestClip } from './fixtures';
import { commitInfo, machineInfo } from './machine';
import { killAllNow, stopAll } from './procs';
import { formatMarkdown, formatTable, verdictOf, type RowResult } from './report';
import { avsrJointRow } from './rows/avsr-joint';
import { e2eRow } from './rows/e2e';
import { inferenceRow } from './rows/inference';
import { ingestRow } from './rows/ingest';
import { isolationRow } from './rows/isolation';
import { mouthTrackingRow } from './rows/mouth-tracking';
import { preprocessRow } from './rows/preprocess';
import { queueRow } from './rows/queue';
import { scaleOutRow } from './rows/scale-out';
import { throughputRow } from './rows/throughput';
import type { BenchContext, RowSpec } from './rows/types';
import { BENCH_DBS, redisUrl, ROOT } from './stack';

const USAGE = `usage: npm run bench [-- --big] [-- --rows 1,4,5] [-- --avsr-prefix]

Measures Talkie beside baselines run in the same process tree on this machine, prints a table and
writes bench/results/latest.json (and latest.md). Uses Redis databases ${BENCH_DBS.join('–')} at
127.0.0.1:6379, which it flushes at start and end.
  --big        also upload 1 GB (row 3)
  --rows LIST  run only these rows (comma-separated numbers)
  --providers LIST
               ONNX Runtime execution providers for row 6, as EXECUTION_PROVIDERS takes them
               (default cpu; on a GPU node e.g. cuda or tensorrt,cuda)
  --avsr-prefix
               row 10 also times the old whole-prefix decoder on the same search (~90 s more)`;

/**
 * The order rows run in: the quiet, in-process ones first (nothing else running), then the ones
 * that start services. The table is printed in row order.
 */
const ROWS: RowSpec[] = [preprocessRow, inferenceRow, mouthTrackingRow, avsrJointRow, queueRow, throughputRow, ingestRow, isolationRow, e2eRow, scaleOutRow];

const RESULTS_DIR = path.join(ROOT, 'bench', 'results');

/**
 * Holds the benchmark's Redis databases under the same leases the test suite takes
 * (test/support/redis-db.ts: `talkie-test:redis-db-lease:<db>` in database 0), so a test run and a
 * benchmark on one machine never flush each other's data. Waits while tests hold one.
 */
async function leaseBenchDbs(): Promise<() => Promise<void>> {
  const control = new Redis('redis://127.0.0.1:6379/0', { maxRetriesPerRequest: 1 });
  const token = `bench-${process.pid}`;
  const key = (db: number) => `talkie-test:redis-db-lease:${db}`;
  const deadline = Date.now() + 120_000;
  for (const db of BENCH_DBS) {
    while (!(await control.set(key(db), token, 'PX', 60_000, 'NX'))) {
      if ((await control.get(key(db))) === token) break;
      if (Date.now() > deadline) throw new Error(`Redis DB ${db} stays leased by a test run; try again when it ends`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const renew = setInterval(() => {
    for (const db of BENCH_DBS) void control.pexpire(key(db), 60_000).catch(() => undefined);
  }, 20_000);
  renew.unref();
  return async () => {
    clearInterval(renew);
    for (const db of BENCH_DBS) if ((await control.get(key(db))) === token) await control.del(key(db));
    control.disconnect();
  };
}

async function flushBenchDbs(): Promise<void> {
  for (const db of BENCH_DBS) {
    const redis = new Redis(redisUrl(db), { maxRetriesPerRequest: 1, lazyConnect: true });
    try {
      await redis.connect();
      await redis.flushdb();
    } finally {
      redis.disconnect();
    }
  }
}

function logTails(dir: string, lines = 15): string {
  if (!existsSync(dir)) return '';
  return readdirSync(dir)
    .map((f) => {
      const text = readFileSync(path.join(dir, f), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      return `--- ${f} (last ${lines} lines)\n${text}`;
    })
    .join('\n');
}

async function main() {
  const { values } = parseArgs({
    options: { big: { type: 'boolean', default: false }, rows: { type: 'string' }, providers: { type: 'string', default: 'cpu' }, 'avsr-prefix': { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const providers = parseExecutionProviders(values.providers);
  const only = values.rows ? new Set(values.rows.split(',').map((s) => Number(s.trim()))) : undefined;
  const selected = ROWS.filter((r) => !only || only.has(r.id));
  if (selected.length === 0) throw new Error(`--rows ${values.rows}: no such row (rows are 1–${ROWS.length})`);

  const releaseDbs = await leaseBenchDbs();
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'talkie-bench-'));
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    await stopAll();
    await flushBenchDbs().catch((err: Error) => console.error(`bench: could not flush Redis DBs ${BENCH_DBS.join(', ')}: ${err.message}`));
    await rm(tmp, { recursive: true, force: true });
    await releaseDbs().catch(() => undefined);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\nbench: ${signal}: stopping everything it started…`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', killAllNow);

  const startedAt = new Date();
  const wallStart = performance.now();
  const log = (line: string) => console.log(`[bench ${((performance.now() - wallStart) / 1000).toFixed(0).padStart(3)}s] ${line}`);
  try {
    await flushBenchDbs();
    const ffmpeg = await resolveFfmpeg();
    const machine = machineInfo(ffmpeg.ffmpeg);
    const commit = commitInfo(ROOT);
    log(`${machine.cpus} × ${machine.cpu_model}, ${(machine.memory_bytes / 2 ** 30).toFixed(1)} GiB, node ${machine.node}, ${machine.ffmpeg}`);
    // What the gateway and workers will choose (PROBER=auto): rows 3 and 8 depend on it.
    const probing = await createVideoProber({ binaries: ffmpeg });
    machine.prober = probing.kind === 'resident' ? 'talkie-probe (resident libavformat, a fork per file)' : 'ffprobe (a process per file; talkie-probe not built)';
    await probing.close();
    log(`uploads probed with ${machine.prober}`);
    log(`commit ${commit.commit}${commit.dirty_files ? ` (+${commit.dirty_files} changed files in the tree)` : ''}; scratch ${tmp}`);

    if (machine.load_average_at_start[0] > 0.5) {
      log(`WARNING: the machine is not idle (1-minute load ${machine.load_average_at_start[0]}): other work skews the figures, ratios included`);
    }
    log('preparing: demo model and fixture videos');
    const demoModelDir = path.join(tmp, 'models', 'demo');
    await writeDemoModel(demoModelDir);
    const fixtureDir = path.join(tmp, 'fixtures');
    mkdirSync(fixtureDir, { recursive: true });
    const [short, ten, long] = await Promise.all([
      renderFixtureOf(ffmpeg.ffmpeg, fixtureDir, 'HELLO WORLD', 4, 'short.mp4'),
      renderFixtureOf(ffmpeg.ffmpeg, fixtureDir, 'THE QUICK BROWN FOX JUMPS', 10, 'ten.mp4'),
      renderFixtureOf(ffmpeg.ffmpeg, fixtureDir, 'A LONG VIDEO TO KEEP THE WORKER BUSY', 100, 'long.mp4'),
    ]);
    let clip: Promise<{ file: string; frames: number }> | undefined;
    const ctx: BenchContext = {
      tmp,
      ffmpeg,
      demoModelDir,
      fixtures: { short, ten, long },
      clip: () => (clip ??= renderTestClip(ffmpeg.ffmpeg, path.join(fixtureDir, 'testsrc2-640x480-30fps-20s.mp4'))),
      big: values.big,
      providers,
      avsrPrefix: values['avsr-prefix'],
      log,
    };

    const results: RowResult[] = [];
    for (const spec of selected) {
      log(`row ${spec.id}: ${spec.name}…`);
      const t0 = performance.now();
      const load = Math.round(os.loadavg()[0] * 100) / 100;
      let result: RowResult;
      try {
        const outcome = await spec.run(ctx);
        result = { id: spec.id, name: spec.name, target: spec.target, ...outcome, verdict: verdictOf(outcome.checks, undefined, outcome.skipped), seconds: (performance.now() - t0) / 1000, load_1m_at_start: load };
      } catch (err) {
        const message = (err as Error).message;
        console.error(`row ${spec.id} failed: ${(err as Error).stack ?? message}\n${logTails(path.join(tmp, 'logs'))}`);
        result = {
          id: spec.id, name: spec.name, target: spec.target, talkie: '', baseline: '', ratio: null, ratioLabel: '', checks: [],
          figures: {}, baselineFigures: {}, notes: [], error: message, verdict: verdictOf([], message), seconds: (performance.now() - t0) / 1000,
          load_1m_at_start: load,
        };
      }
      await stopAll(); // nothing a row started outlives it
      results.push(result);
      log(`row ${spec.id}: ${result.verdict} (${result.seconds.toFixed(0)} s)${result.error ? `: ${result.error}` : ''}`);
    }
    results.sort((a, b) => a.id - b.id);

    const totalS = (performance.now() - wallStart) / 1000;
    console.log(`\n${formatTable(results)}\n`);
    for (const r of results) for (const note of r.notes) console.log(`  [${r.id}] ${note}`);
    mkdirSync(RESULTS_DIR, { recursive: true });
    const report = {
      schema: 'talkie.bench/v1',
      started_at: startedAt.toISOString(),
      duration_s: Math.round(totalS),
      commit: commit.commit,
      dirty_files: commit.dirty_files,
      machine: { ...machine, load_average_at_end: os.loadavg().map((l) => Math.round(l * 100) / 100) },
      options: { big: values.big, avsr_prefix: values['avsr-prefix'], rows: selected.map((r) => r.id), providers },
      summary: results.map((r) => ({ id: r.id, name: r.name, ratio: r.ratio, ratio_of: r.ratioLabel, target: r.target, verdict: r.verdict })),
      rows: results,
    };
    writeFileSync(path.join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(path.join(RESULTS_DIR, 'latest.md'), `${formatMarkdown(results)}\n`);
    log(`done in ${totalS.toFixed(0)} s: bench/results/latest.json, bench/results/latest.md`);
    const counts = results.reduce<Record<string, number>>((acc, r) => ({ ...acc, [r.verdict]: (acc[r.verdict] ?? 0) + 1 }), {});
    log(Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', '));
    // A MISS is a finding, not a failure of the command; an ERROR (a row that could not measure) is.
    process.exitCode = results.some((r) => r.verdict === 'ERROR') ? 1 : 0;
  } finally {
    await cleanup();
  }
}

main().catch((err: Error) => {
  console.error(`bench: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
