import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureDemoModel } from '@talkie/demo-model';
import { getJob, waitForJob } from '../support/client';
import { fixture } from '../support/fixtures';
import { startStack, type Stack } from '../support/stack';
import { POLLING_GATEWAY_ENV, exitOf, logLines, say, sleep, submitForm } from './support/faults';

/**
 * Case 6: a worker given a broken model package (model.onnx garbage, or missing). It must refuse to
 * become ready (never /readyz 200; it exits non-zero) with a message naming the problem, while the
 * gateway keeps accepting jobs, which wait (queued) and complete once a good worker starts.
 */
describe('fault: corrupt or missing model file', () => {
  let stack: Stack;
  let dir: string;
  const packages: Record<string, string> = {};
  const tenant = 'fault-model';
  const queued: Array<{ id: string; text: string }> = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'talkie-fault-model-'));
    const good = path.join(dir, 'good');
    await ensureDemoModel(good);
    packages.garbage = path.join(dir, 'garbage');
    await cp(good, packages.garbage, { recursive: true });
    await writeFile(path.join(packages.garbage, 'model.onnx'), randomBytes(64 * 1024));
    packages.missing = path.join(dir, 'missing');
    await cp(good, packages.missing, { recursive: true });
    await rm(path.join(packages.missing, 'model.onnx'));
    stack = await startStack({ name: 'fault-model', workers: 0, gatewayEnv: POLLING_GATEWAY_ENV });
  }, 90_000);
  afterAll(async () => {
    await stack?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['model.onnx is garbage', 'garbage'],
    ['model.onnx is missing', 'missing'],
  ])('%s: the worker refuses to become ready, says why, and jobs wait', async (what, key) => {
    const token = stack.token(tenant);
    const text = key === 'garbage' ? 'WAIT FOR A GOOD WORKER' : 'STILL WAITING';
    const created = await submitForm(stack, token, (await fixture(text)).file);
    expect(created.status).toBe(202);
    queued.push({ id: created.body.id, text });

    const worker = await stack.addWorker({ MODEL_DIR: packages[key] }, { waitReady: false });
    say(`case 6: injected a worker with MODEL_DIR pointing at a package whose ${what} (${worker.service})`);
    const readiness: number[] = [];
    const exited = exitOf(worker.process, 30_000);
    let exit: Awaited<typeof exited> | undefined;
    void exited.then((e) => (exit = e ?? { code: null, signal: null }));
    while (exit === undefined) {
      const status = await fetch(`http://127.0.0.1:${worker.healthPort}/readyz`, { signal: AbortSignal.timeout(1_000) }).then(
        (r) => r.status,
        () => 0,
      );
      if (!readiness.includes(status)) readiness.push(status);
      await sleep(50);
    }
    const message = logLines(stack, worker.service)
      .map((l) => String(l.msg))
      .find((m) => m.startsWith('worker:'));
    const jobs = await Promise.all(queued.map(async (q) => (await getJob(stack.baseUrl, token, q.id)).body.status));
    say(`case 6: observed (${what})`, { exit, readyz_answers: readiness.map((s) => s || 'no answer'), message, jobs });
    expect(exit).toMatchObject({ signal: null });
    expect(exit!.code).not.toBe(0);
    expect(exit!.code).not.toBeNull();
    expect(readiness).not.toContain(200);
    expect(message).toContain(packages[key]);
    expect(message).toMatch(/model\.onnx/);
    expect(jobs.every((s) => s === 'queued')).toBe(true);
  }, 60_000);

  it('the queued jobs complete once a good worker starts', async () => {
    const token = stack.token(tenant);
    // the gateway still accepts while no worker is ready
    const late = await submitForm(stack, token, (await fixture('ACCEPTED ANYWAY')).file);
    expect(late.status).toBe(202);
    queued.push({ id: late.body.id, text: 'ACCEPTED ANYWAY' });
    const startedAt = Date.now();
    const good = await stack.addWorker();
    const finals = await Promise.all(queued.map((q) => waitForJob(stack.baseUrl, token, q.id, 60_000)));
    say('case 6: observed after a good worker started', {
      worker: good.service,
      jobs: finals.map((f) => `${f.status}: ${f.result?.text}`),
      all_done_after_ms: Date.now() - startedAt,
    });
    expect(queued.length).toBe(3);
    finals.forEach((f, i) => expect(f).toMatchObject({ status: 'completed', result: { text: queued[i].text } }));
  }, 60_000);
});
