import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { VISEME_MODEL_NAME, writeVisemeModel } from '@talkie/demo-model';
import { submit, waitForJob } from './support/client';
import { fixture } from './support/fixtures';
import { exitOf, startStack, type Stack } from './support/stack';

/**
 * Issue 5, end to end: a model package with an encoder (CTC head + features) and an attention
 * decoder step, generated with the Auto-AVSR signatures, run by a real worker process on real
 * ffmpeg output and onnxruntime-node. The encoder cannot tell B from P (its CTC head alone reads
 * "A BIG BAT" as "A PIG PAT"); the decoder, a bigram model whose words start with B, settles it
 * when joint decoding weighs it in, and stops mattering at CTC weight 1.
 */
describe('joint CTC/attention decoding through the whole system', () => {
  let stack: Stack;
  let modelDir: string;
  let worker: ChildProcess;

  beforeAll(async () => {
    modelDir = await mkdtemp(path.join(os.tmpdir(), 'talkie-joint-model-'));
    await writeVisemeModel(modelDir);
    stack = await startStack({ name: 'joint-decoding', workers: 1, workerEnv: { MODEL_DIR: modelDir } });
    worker = stack.workers[0];
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await rm(modelDir, { recursive: true, force: true });
  });

  /** Stops the running worker and starts one with `env` on top of the stack's, so the next job is its. */
  async function replaceWorker(env: Record<string, string>): Promise<void> {
    const exited = exitOf(worker, 30_000);
    worker.kill('SIGTERM');
    expect(await exited).toBeDefined();
    worker = (await stack.addWorker(env)).process;
  }

  async function read(text: string, fields: Record<string, string> = {}) {
    const video = await fixture(text, { fps: 25, format: 'mp4' });
    const token = stack.token('alice');
    const created = await submit(stack.baseUrl, token, video.file, { fields });
    expect(created.status).toBe(202);
    const job = await waitForJob(stack.baseUrl, token, created.body.id);
    expect(job.status).toBe('completed');
    expect(job.result!.model.name).toBe(VISEME_MODEL_NAME);
    return { video, result: job.result! };
  }

  it('reads "A BIG BAT" with the manifest\'s joint decoding (CTC weight 0.1, beam 40), timed from the CTC posteriors', async () => {
    const { video, result } = await read('A BIG BAT');
    expect(result.text).toBe('A BIG BAT');
    expect(result.segments.map((s) => s.text)).toEqual(['A', 'BIG', 'BAT']);
    result.segments.forEach((segment, i) => {
      expect(Math.abs(segment.start - video.words[i].start)).toBeLessThanOrEqual(0.1);
      expect(Math.abs(segment.end - video.words[i].end)).toBeLessThanOrEqual(0.1);
    });
  });

  it("gives each word a confidence weighed from CTC and the decoder, and the beam's look-alike readings as alternatives (issue 17)", async () => {
    const { result } = await read('A BIG BAT', { alternatives: '3' });
    expect(result.text).toBe('A BIG BAT');
    for (const segment of result.segments) {
      expect(segment.confidence).toBeGreaterThanOrEqual(0);
      expect(segment.confidence).toBeLessThanOrEqual(1);
    }
    const alternatives = result.alternatives!;
    expect(alternatives).toHaveLength(3);
    expect(alternatives[0].text).toBe('A BIG BAT');
    expect(new Set(alternatives.map((a) => a.text)).size).toBe(3);
    for (let i = 1; i < alternatives.length; i++) expect(alternatives[i].score).toBeLessThanOrEqual(alternatives[i - 1].score);
    // the encoder cannot tell B from P: the runner-up readings swap them
    expect(alternatives.slice(1).some((a) => /\bP/.test(a.text))).toBe(true);
  });

  it('reads "A PIG PAT" from the same video with CTC prefix beam search alone (CTC_DECODER=beam)', async () => {
    await replaceWorker({ CTC_DECODER: 'beam' });
    expect((await read('A BIG BAT')).result.text).toBe('A PIG PAT');
  });

  it('reads "A PIG PAT" again with joint decoding at CTC_WEIGHT=1, where the decoder has no say', async () => {
    await replaceWorker({ CTC_WEIGHT: '1' });
    expect((await read('A BIG BAT')).result.text).toBe('A PIG PAT');
  });
});
