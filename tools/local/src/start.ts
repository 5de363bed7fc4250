#!/usr/bin/env node
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { redisAnswers } from './redis-check';
import { jwtSecret, stateDir } from './state';

/**
 * `npm start`: the whole system on one machine, as separate processes — Redis (a private one when
 * none answers), the gateway, WORKERS workers, the webhook dispatcher and the postprocess service
 * (LLM correction; it only calls an LLM when LLM_BASE_URL is set) — the same services that run in
 * containers.
 */

const say = (line: string) => process.stdout.write(`[talkie] ${line}\n`);

interface Service {
  name: string;
  child: ChildProcess;
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`${what} exited during start-up (see its log above)`);
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not become ready within ${timeoutMs / 1000} s`);
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    return res.ok;
  } catch {
    return false;
  }
}

function startPrivateRedis(url: string, dir: string): ChildProcess | undefined {
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const bin = which.stdout.trim();
  if (!bin) return undefined;
  const { hostname, port } = new URL(url);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Configured as BullMQ needs in production: nothing evicted, writes kept in an append-only file.
  return spawn(
    bin,
    ['--bind', hostname || '127.0.0.1', '--port', port || '6379', '--dir', dir, '--appendonly', 'yes', '--save', '', '--maxmemory-policy', 'noeviction'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
}

const services: Service[] = [];
let redis: ChildProcess | undefined;
let stopping = false;

/** Stops the services (SIGTERM, so each drains as in production), then the private Redis. */
async function stopAll(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say('stopping…');
    const exits = services.map((s) => new Promise<void>((resolve) => (s.child.exitCode !== null ? resolve() : s.child.once('exit', () => resolve()))));
    for (const s of services) s.child.kill('SIGTERM');
    await Promise.all(exits);
    if (redis && redis.exitCode === null) {
      const exited = new Promise((resolve) => redis!.once('exit', resolve));
      redis.kill('SIGTERM');
      await exited;
    }
  }
  process.exit(code);
}

async function main() {
  const env = { ...process.env };
  const state = stateDir(env);
  const host = env.HOST ?? '127.0.0.1';
  const port = Number(env.PORT ?? 8080);
  const workers = Number(env.WORKERS ?? 1);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new Error('WORKERS must be a whole number from 1 to 64');
  // The gateway's metrics port; the other processes take the next ports up (worker 1, 2, …).
  const metricsBase = Number(env.METRICS_PORT ?? 9464);
  const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379';

  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));
  // If the launcher dies some other way, take the services (in their own groups) with it.
  process.on('exit', () => {
    for (const s of services) if (s.child.exitCode === null) s.child.kill('SIGKILL');
  });

  if (!(await redisAnswers(redisUrl))) {
    if (env.REDIS_URL) throw new Error(`nothing answers at REDIS_URL=${redisUrl}`);
    redis = startPrivateRedis(redisUrl, path.join(state, 'redis'));
    if (!redis) {
      throw new Error(
        `no Redis answers at ${redisUrl} and redis-server is not installed. Install one (Debian/Ubuntu: ` +
          'sudo apt-get install redis-server; macOS: brew install redis) or point REDIS_URL at a running Redis.',
      );
    }
    say(`started a private Redis at ${redisUrl} (data in ${path.join(state, 'redis')})`);
    await waitFor(() => redisAnswers(redisUrl), 'Redis', 10_000, () => redis!.exitCode === null);
  }

  const secret = jwtSecret(env);
  if (secret.source === 'created') say(`created a JWT secret in ${path.join(state, 'jwt-secret')}`);

  const common = {
    ...env,
    REDIS_URL: redisUrl,
    STORAGE_URL: env.STORAGE_URL ?? `file://${path.join(state, 'storage')}`,
    JWT_SECRET: secret.secret,
    DEMO_MODEL_DIR: env.DEMO_MODEL_DIR ?? path.join(state, 'models', 'demo'),
  };
  const launch = (name: string, script: string, extra: Record<string, string>) => {
    // Its own process group: a terminal's Ctrl-C reaches only this launcher, which then sends each
    // service one SIGTERM. (A second signal means "exit now" to a service, and would cut a job short.)
    const child = spawn(process.execPath, [require.resolve(script)], { env: { ...common, ...extra }, stdio: 'inherit', detached: true });
    child.on('exit', (code, signal) => {
      if (!stopping) {
        say(`${name} exited unexpectedly (${signal ?? `code ${code}`}); stopping everything`);
        void stopAll(1);
      }
    });
    services.push({ name, child });
    return child;
  };

  const gateway = launch('gateway', '@talkie/gateway/dist/main.js', { HOST: host, PORT: String(port), METRICS_PORT: String(metricsBase) });
  const workerPorts: number[] = [];
  // Several workers on one machine share its cores: each gets its share of threads (unless set),
  // so their jobs run side by side instead of contending (docs/performance.md, row 7).
  const share = String(Math.max(1, Math.floor(os.cpus().length / workers)));
  const threads: Record<string, string> = workers > 1 ? { INTRA_OP_THREADS: env.INTRA_OP_THREADS ?? share, DECODE_THREADS: env.DECODE_THREADS ?? share } : {};
  for (let i = 0; i < workers; i++) {
    const healthPort = metricsBase + 1 + i;
    workerPorts.push(healthPort);
    launch(`worker-${i + 1}`, '@talkie/worker/dist/main.js', { HEALTH_PORT: String(healthPort), HEALTH_HOST: '127.0.0.1', ...threads });
  }

  const dispatcherPort = metricsBase + 1 + workers;
  launch('webhook-dispatcher', '@talkie/webhook-dispatcher/dist/main.js', { HEALTH_PORT: String(dispatcherPort), HEALTH_HOST: '127.0.0.1' });
  // Always started: a job submitted with correct=true must end even without an LLM (correction "skipped").
  const postprocessPort = dispatcherPort + 1;
  launch('postprocess', '@talkie/postprocess/dist/main.js', { HEALTH_PORT: String(postprocessPort), HEALTH_HOST: '127.0.0.1' });

  const base = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  await waitFor(() => httpOk(`${base}/readyz`), 'the gateway', 30_000, () => gateway.exitCode === null);
  for (const p of workerPorts) {
    await waitFor(() => httpOk(`http://127.0.0.1:${p}/readyz`), `the worker on health port ${p}`, 60_000, () => !stopping);
  }
  await waitFor(() => httpOk(`http://127.0.0.1:${dispatcherPort}/readyz`), 'the webhook dispatcher', 30_000, () => !stopping);
  await waitFor(() => httpOk(`http://127.0.0.1:${postprocessPort}/readyz`), 'the postprocess service', 30_000, () => !stopping);

  say('');
  say(`Talkie is up: ${base}  (gateway, ${workers} worker${workers > 1 ? 's' : ''}, webhook dispatcher, postprocess)`);
  say(
    `Metrics, health and readiness: gateway http://127.0.0.1:${metricsBase}/metrics; ${workerPorts.map((p, i) => `worker ${i + 1} :${p}`).join(', ')}; ` +
      `dispatcher :${dispatcherPort}; postprocess :${postprocessPort}`,
  );
  if (!env.LLM_BASE_URL) say('LLM correction (correct=true) is off: set LLM_BASE_URL and LLM_MODEL (e.g. Ollama at http://127.0.0.1:11434/v1) to turn it on.');
  if (!env.MODEL_DIR) {
    say('Running the DEMO MODEL: it reads videos made by `npm run fixture`, not real lips. For lip reading, import an');
    say('  Auto-AVSR or Chaplin checkpoint (needs PyTorch): npm run models:import -- --checkpoint model.pth --units units.txt \\');
    say('  --mean-face 20words_mean_face.npy --out models/avsr, then MODEL_DIR=models/avsr npm start (README: "Model packages").');
  }
  say('Try it (in another shell):');
  say('  TOKEN=$(npm run --silent token -- --sub alice)');
  say('  npm run --silent fixture -- --text "HELLO WORLD" --out /tmp/hello.mp4');
  say(`  TALKIE_URL=${base} TALKIE_TOKEN=$TOKEN npm run --silent talkie -- submit /tmp/hello.mp4 --wait   # prints HELLO WORLD`);
  say('or with curl (jq picks the job id out of the answer):');
  say(`  JOB=$(curl -s -H "Authorization: Bearer $TOKEN" -F video=@/tmp/hello.mp4 ${base}/v1/jobs | jq -r .id)`);
  say(`  curl -s -H "Authorization: Bearer $TOKEN" ${base}/v1/jobs/$JOB`);
  say(`Web console: ${base}/  (sign in with an API key: npm run --silent keys -- create --tenant alice --scopes jobs:read,jobs:write)`);
  say('Ctrl-C stops everything.');
}

main().catch((err: Error) => {
  console.error(`[talkie] cannot start: ${err.message}`);
  void stopAll(1);
});
