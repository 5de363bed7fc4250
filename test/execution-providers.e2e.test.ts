import { readFile } from 'node:fs/promises';
import { submit, waitForJob } from './support/client';
import { fixture } from './support/fixtures';
import { exitOf, startStack, type Stack } from './support/stack';

/**
 * EXECUTION_PROVIDERS on a machine without CUDA (onnxruntime-node here ships no CUDA libraries):
 * `cuda,cpu` falls back to cpu, says so in the log, /readyz and /metrics, and still reads; a list
 * with no usable provider, or an unknown name, stops the worker at start with a clear message.
 */
describe('execution providers', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ name: 'exec-providers', workerEnv: { EXECUTION_PROVIDERS: 'cuda,cpu', INTRA_OP_THREADS: '1', INTER_OP_THREADS: '1', EXECUTION_DEVICE_ID: '0' } });
  }, 90_000);
  afterAll(() => stack?.stop());

  it('falls back from cuda to cpu: logged, in /readyz and in metrics, and transcribes', async () => {
    const ready = (await (await fetch(`http://127.0.0.1:${stack.workerPorts[0]}/readyz`)).json()) as Record<string, unknown>;
    expect(ready).toMatchObject({
      status: 'ready',
      execution_providers: { requested: ['cuda', 'cpu'], active: 'cpu', session: ['cpu'], fallbacks: [{ provider: 'cuda', reason: expect.stringMatching(/Cuda|CUDA|shared library/) }] },
    });
    const metrics = await (await fetch(`http://127.0.0.1:${stack.workerPorts[0]}/metrics`)).text();
    expect(metrics).toMatch(/^talkie_worker_execution_provider\{requested="cuda,cpu",active="cpu",service="worker"\} 1$/m);
    expect(metrics).toMatch(/^talkie_worker_execution_provider_fallback\{provider="cuda",service="worker"\} 1$/m);
    const log = await readFile(stack.logFile('worker-1'), 'utf8');
    expect(log).toMatch(/execution provider fallback: asked for cuda,cpu, running on cpu/);

    const token = stack.token('alice');
    const video = await fixture('FALL BACK');
    const created = await submit(stack.baseUrl, token, video.file);
    const job = await waitForJob(stack.baseUrl, token, created.body.id);
    expect(job.result?.text).toBe('FALL BACK');
  });

  it('refuses to start when no listed provider can be used', async () => {
    const worker = await stack.addWorker({ EXECUTION_PROVIDERS: 'cuda' }, { waitReady: false });
    expect(await exitOf(worker.process, 45_000)).toEqual({ code: 1, signal: null });
    const log = await readFile(stack.logFile(worker.service), 'utf8');
    expect(log).toMatch(/worker: none of the execution providers \[cuda\] could be used: cuda: .+\. Add cpu at the end of EXECUTION_PROVIDERS/);
  }, 60_000);

  it('refuses unknown provider names before loading anything', async () => {
    const worker = await stack.addWorker({ EXECUTION_PROVIDERS: 'cuda,gpu' }, { waitReady: false });
    expect(await exitOf(worker.process, 45_000)).toEqual({ code: 1, signal: null });
    const log = await readFile(stack.logFile(worker.service), 'utf8');
    expect(log).toMatch(/EXECUTION_PROVIDERS: unknown execution provider\(s\) gpu/);
  }, 60_000);
});
