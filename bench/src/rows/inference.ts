import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { demoManifest } from '@talkie/demo-model';
import { DynamicBatcher, ModelSession, probeBatching } from '@talkie/inference';
import { BENCH_MODEL, benchModelMacsPerFrame, buildBenchModel } from '../bench-model';
import { fmt, ratio } from '../report';
import type { RowSpec } from './types';

/** Frames per item: one second at the demo model's 25 fps. */
const FRAMES_PER_ITEM = 25;
const MAX_BATCH = 8;
const SECONDS_PER_ROUND = 2.5;
const ROUNDS = 3;

/**
 * Row 6: frames per second through a model with realistic compute, generated here (bench-model.ts),
 * through the worker's own path: a model package loaded by `ModelSession` (graph optimisation "all",
 * default threads, warm-up), the start-up batching probe, and the `DynamicBatcher` the inference
 * thread uses, at MAX_BATCH 1 and MAX_BATCH 8 with eight one-second clips waiting at once (as eight
 * chunks of a long video or eight concurrent jobs would). Interleaved rounds; each side's best counts.
 */
export const inferenceRow: RowSpec = {
  id: 6,
  name: 'inference',
  target: 'report; batch 8 / batch 1 ≥ 1.5 where batching can help',
  async run(ctx) {
    const dir = path.join(ctx.tmp, 'bench-model');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'model.onnx'), buildBenchModel());
    const base = demoManifest();
    const tokens = ['<blank>', '|', ...Array.from({ length: BENCH_MODEL.vocab - 2 }, (_, i) => `t${i}`)];
    await writeFile(
      path.join(dir, 'model.json'),
      JSON.stringify({ ...base, name: 'talkie-bench-frontend', description: 'bench model (random weights)', demo: false, output: { ...base.output, tokens } }),
    );
    const session = await ModelSession.load(dir, { executionProviders: ctx.providers });
    const active = session.executionProviders[0];
    if (session.providerFallbacks.length) ctx.log(`  asked for ${ctx.providers.join(',')}, running on ${active}: ${session.providerFallbacks.map((f) => `${f.provider}: ${f.reason}`).join('; ')}`);
    const { size } = BENCH_MODEL;
    const input = new Float32Array(FRAMES_PER_ITEM * size * size);
    for (let i = 0; i < input.length; i++) input[i] = Math.sin(i * 0.001); // any non-constant input
    try {
      const probe = await probeBatching(session);
      const padding = probe.mode === 'pad' ? 'pad' : 'equal';
      const sizes = new Map<number, number[]>([[1, []], [MAX_BATCH, []]]);
      const batchers = new Map(
        [1, MAX_BATCH].map((maxBatch) => [
          maxBatch,
          new DynamicBatcher({
            maxBatch,
            windowMs: 5,
            padding,
            runBatch: (items) => session.runBatch(items),
            runOne: (data, frames) => session.run(data, frames),
            onBatch: (n) => sizes.get(maxBatch)!.push(n),
          }),
        ]),
      );
      const round = async (batch: number) => {
        const batcher = batchers.get(batch)!;
        let items = 0;
        const started = performance.now();
        while (performance.now() - started < SECONDS_PER_ROUND * 1000) {
          // MAX_BATCH clips waiting at once, as the inference thread sees them
          await Promise.all(Array.from({ length: batch }, () => batcher.run(input, FRAMES_PER_ITEM)));
          items += batch;
        }
        return (items * FRAMES_PER_ITEM) / ((performance.now() - started) / 1000);
      };
      await round(1); // warm-up of both shapes
      await round(MAX_BATCH);
      const b1: number[] = [];
      const b8: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        b1.push(await round(1));
        b8.push(await round(MAX_BATCH));
      }
      const fps1 = Math.max(...b1);
      const fps8 = Math.max(...b8);
      const r = ratio(fps8, fps1);
      const gflop = (2 * benchModelMacsPerFrame()) / 1e9;
      const calls = sizes.get(MAX_BATCH)!;
      const meanBatch = calls.reduce((a, b) => a + b, 0) / Math.max(1, calls.length);
      return {
        talkie: `batch ${MAX_BATCH}: ${fmt(fps8)} frames/s (${fmt(fps8 * gflop)} GFLOP/s)`,
        baseline: `batch 1: ${fmt(fps1)} frames/s (${fmt(fps1 * gflop)} GFLOP/s)`,
        ratio: r,
        ratioLabel: `batch ${MAX_BATCH} / batch 1`,
        checks: [{ label: 'batch 8 / batch 1', value: r, op: '>=', limit: 1.5 }],
        figures: { execution_provider: active, batch: MAX_BATCH, frames_per_item: FRAMES_PER_ITEM, frames_per_s: fps8, rounds: b8, mean_batch: meanBatch, padding: probe.mode },
        baselineFigures: { batch: 1, frames_per_item: FRAMES_PER_ITEM, frames_per_s: fps1, rounds: b1 },
        notes: [
          `model: 5×7×7 3D conv (64 ch) + max-pool, 2D residual stages (64 ch at 22×22, 128 ch at 11×11), linear CTC head over ${BENCH_MODEL.vocab} tokens; ${fmt(gflop)} GFLOP per frame; input (N, 1, ${FRAMES_PER_ITEM}, 88, 88)`,
          `onnxruntime-node on the ${active} execution provider (--providers ${ctx.providers.join(',')}), graph optimisation "all", default intra-op threads` +
            (active === 'cpu' ? '; batching is meant for GPUs, where one call fills the device: run `npm run bench -- --rows 6 --providers cuda` on a GPU node' : ''),
          `the worker's batching path: ModelSession.runBatch through DynamicBatcher (window 5 ms); probe: ${probe.mode}${probe.mode === 'equal' ? ' (its 3D convolution looks at neighbouring frames: only equal lengths share a batch)' : ''}; mean batch ${fmt(meanBatch)}`,
        ],
      };
    } finally {
      await session.release();
    }
  },
};
