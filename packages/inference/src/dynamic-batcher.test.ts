import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { demoManifest, writeDemoModel } from '@talkie/demo-model';
import { attr, GraphBuilder } from '@talkie/onnx-graph';
import { probeBatching } from './batch-probe';
import { DynamicBatcher, groupByLength, type Scores } from './dynamic-batcher';
import { LipReader } from './lip-reader';
import { ModelSession } from './model-session';

/** The batcher against real ONNX Runtime sessions: the demo model, and a model that mixes time steps. */
let dir: string;
let demo: ModelSession;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'talkie-batching-'));
  await writeDemoModel(path.join(dir, 'demo'));
  demo = await ModelSession.load(path.join(dir, 'demo'), { intraOpThreads: 1 });
});
afterAll(async () => {
  await demo?.release();
  await rm(dir, { recursive: true, force: true });
});

const SIZE = 88 * 88;
function clip(frames: number, seed: number): Float32Array {
  const data = new Float32Array(frames * SIZE);
  // blocks of bright and dark, changing every few frames: readable letters for the demo model
  for (let f = 0; f < frames; f++) {
    const code = Math.floor(f / 8 + seed) % 7;
    for (let i = 0; i < SIZE; i++) data[f * SIZE + i] = ((i >> (code + 2)) & 1 ? 220 : 35) / 255 / 0.165 - 0.421 / 0.165;
  }
  return data;
}

describe('groupByLength', () => {
  const items = [40, 25, 26, 100, 25, 37, 38, 60].map((frames, id) => ({ frames, id }));
  it('pads only clips within 1.5× of the shortest of their group, at most maxBatch per group', () => {
    expect(groupByLength(items, 3, 'pad').map((g) => g.map((i) => i.frames))).toEqual([[25, 25, 26], [37, 38, 40], [60], [100]]);
  });
  it('groups only equal lengths in `equal` mode', () => {
    expect(groupByLength(items, 8, 'equal').map((g) => g.map((i) => i.frames))).toEqual([[25, 25], [26], [37], [38], [40], [60], [100]]);
  });
});

describe('DynamicBatcher', () => {
  it('runs waiting clips together and gives each exactly the scores of batch size 1', async () => {
    const lengths = [25, 30, 31, 40, 25, 60, 33];
    const inputs = lengths.map((frames, i) => ({ input: clip(frames, i), frames }));
    const alone: Scores[] = [];
    for (const { input, frames } of inputs) alone.push(await demo.run(input, frames));
    const sizes: number[] = [];
    const batcher = new DynamicBatcher({
      maxBatch: 4,
      windowMs: 50,
      padding: 'pad',
      runBatch: (items) => demo.runBatch(items),
      runOne: (input, frames) => demo.run(input, frames),
      onBatch: (size) => sizes.push(size),
    });
    const together = await Promise.all(inputs.map(({ input, frames }) => batcher.run(input, frames)));
    together.forEach((scores, i) => {
      expect(scores.steps).toBe(lengths[i]);
      expect(scores.data).toEqual(alone[i].data);
    });
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(lengths.length);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4);
  });

  it('gives the same transcripts through LipReader as an unbatched session', async () => {
    const batcher = new DynamicBatcher({ maxBatch: 3, windowMs: 50, padding: 'pad', runBatch: (items) => demo.runBatch(items), runOne: (i, f) => demo.run(i, f) });
    const batched = new LipReader(Object.create(demo, { run: { value: (i: Float32Array, f: number) => batcher.run(i, f) } }) as ModelSession);
    const plain = new LipReader(demo);
    const videos = [50, 75, 64].map((count, i) => {
      const pixels = new Uint8Array(count * SIZE);
      const data = clip(count, i * 3);
      for (let p = 0; p < pixels.length; p++) pixels[p] = Math.round((data[p] * 0.165 + 0.421) * 255);
      return { pixels, count, width: 88, height: 88, fps: 25 };
    });
    const expected = [];
    for (const video of videos) expected.push(await plain.transcribe(video));
    const got = await Promise.all(videos.map((video) => batched.transcribe(video)));
    expect(got).toEqual(expected);
    expect(expected.some((r) => r.text.length > 0)).toBe(true);
  });

  it('fails every clip of a batch when the batch fails', async () => {
    const batcher = new DynamicBatcher({ maxBatch: 2, windowMs: 1_000, padding: 'pad', runBatch: () => Promise.reject(new Error('boom')), runOne: (i, f) => demo.run(i, f) });
    const results = await Promise.allSettled([batcher.run(clip(25, 0), 25), batcher.run(clip(26, 1), 26)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});

describe('probeBatching', () => {
  it('finds the demo model time-local: clips of different lengths may be padded together', async () => {
    expect(await probeBatching(demo)).toEqual({ mode: 'pad', maxDiff: 0 });
  });

  it('finds a model that looks at the whole clip unsafe to pad: only equal lengths share a batch', async () => {
    // logits = (per-frame mean + mean over all frames) × weights: padding changes every step
    const g = new GraphBuilder('mixes-time');
    const video = g.input('video', ['batch', 1, 'time', 88, 88]);
    const perFrame = g.op('Transpose', [g.op('ReduceMean', [video], [attr.ints('axes', [3, 4]), attr.int('keepdims', 0)])], [attr.ints('perm', [0, 2, 1])]);
    const overall = g.op('ReduceMean', [perFrame], [attr.ints('axes', [1]), attr.int('keepdims', 1)]);
    const tokens = ['<blank>', '|', 'A'];
    g.op('MatMul', [g.op('Add', [perFrame, overall]), g.floatConst([1, -1, 0.5], [1, tokens.length])], [], 'logits');
    g.output('logits', ['batch', 'time', tokens.length]);
    const modelDir = path.join(dir, 'mixes-time');
    await mkdir(modelDir, { recursive: true });
    await writeFile(path.join(modelDir, 'model.onnx'), g.toBytes());
    const manifest = demoManifest();
    await writeFile(path.join(modelDir, 'model.json'), JSON.stringify({ ...manifest, name: 'mixes-time', demo: false, output: { ...manifest.output, tokens } }));
    const session = await ModelSession.load(modelDir, { intraOpThreads: 1 });
    try {
      expect((await probeBatching(session)).mode).toBe('equal');
    } finally {
      await session.release();
    }
  });
});
