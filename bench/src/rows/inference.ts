import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
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
 * run with onnxruntime-node as the worker runs models (graph optimisation "all", default threads),
 * at batch 1 and batch 8 of one-second items. Interleaved rounds; each side's best round counts.
 */
export const inferenceRow: RowSpec = {
  id: 6,
  name: 'inference',
  target: 'report; batch 8 / batch 1 ≥ 1.5 where batching can help',
  async run(ctx) {
    const file = path.join(ctx.tmp, 'bench-model.onnx');
    await writeFile(file, buildBenchModel());
    const session = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'all', executionProviders: ['cpu'] });
    const { size } = BENCH_MODEL;
    const inputs = new Map<number, ort.Tensor>();
    for (const batch of [1, MAX_BATCH]) {
      const data = new Float32Array(batch * FRAMES_PER_ITEM * size * size);
      for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.001); // any non-constant input
      inputs.set(batch, new ort.Tensor('float32', data, [batch, 1, FRAMES_PER_ITEM, size, size]));
    }
    const round = async (batch: number) => {
      const input = inputs.get(batch)!;
      let runs = 0;
      const started = performance.now();
      while (performance.now() - started < SECONDS_PER_ROUND * 1000) {
        await session.run({ video: input });
        runs++;
      }
      return (runs * batch * FRAMES_PER_ITEM) / ((performance.now() - started) / 1000);
    };
    try {
      await session.run({ video: inputs.get(1)! }); // warm-up
      await session.run({ video: inputs.get(MAX_BATCH)! });
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
      return {
        talkie: `batch ${MAX_BATCH}: ${fmt(fps8)} frames/s (${fmt(fps8 * gflop)} GFLOP/s)`,
        baseline: `batch 1: ${fmt(fps1)} frames/s (${fmt(fps1 * gflop)} GFLOP/s)`,
        ratio: r,
        ratioLabel: `batch ${MAX_BATCH} / batch 1`,
        checks: [{ label: 'batch 8 / batch 1', value: r, op: '>=', limit: 1.5 }],
        figures: { batch: MAX_BATCH, frames_per_item: FRAMES_PER_ITEM, frames_per_s: fps8, rounds: b8 },
        baselineFigures: { batch: 1, frames_per_item: FRAMES_PER_ITEM, frames_per_s: fps1, rounds: b1 },
        notes: [
          `model: 5×7×7 3D conv (64 ch) + max-pool, 2D residual stages (64 ch at 22×22, 128 ch at 11×11), linear CTC head over ${BENCH_MODEL.vocab} tokens; ${fmt(gflop)} GFLOP per frame; input (N, 1, ${FRAMES_PER_ITEM}, 88, 88)`,
          'onnxruntime-node CPU execution provider, graph optimisation "all", default intra-op threads',
        ],
      };
    } finally {
      await session.release();
    }
  },
};
