import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ModelSession, PackagePath, type SessionOptions } from '@talkie/inference';

/**
 * The importer's parity check, in the runtime the workers use: the package is loaded by the
 * worker's own ModelSession (manifest, encoder, decoder, warm-up), run on the input PyTorch was
 * run on, and every output compared with PyTorch's (`parity/parity.json`, written by
 * tools/export/talkie_avsr/export.py).
 */
const Tensor = z.object({ file: PackagePath, shape: z.array(z.number().int().nonnegative()) });
export const ParityReference = z.object({
  schema: z.literal('talkie.parity/v1'),
  video: Tensor,
  ctc_log_probs: Tensor,
  features: Tensor,
  decoder_steps: z.array(z.object({ tokens: z.array(z.number().int()), parents: z.array(z.number().int()), logp: PackagePath, shape: z.array(z.number().int()) })),
  tolerance: z.number().positive(),
});
export type ParityReference = z.infer<typeof ParityReference>;

export interface Comparison {
  name: string;
  max_abs_diff: number;
  /** rows (frames, or hypotheses) whose best token differs */
  argmax_mismatches: number;
  rows: number;
}

export interface ParityReport {
  ok: boolean;
  tolerance: number;
  providers: string[];
  comparisons: Comparison[];
}

const PARITY_DIR = 'parity';

async function readF32(dir: string, file: string, shape: number[]): Promise<Float32Array> {
  const bytes = await readFile(path.join(dir, PARITY_DIR, file));
  const want = shape.reduce((a, b) => a * b, 1);
  if (bytes.byteLength !== want * 4) throw new Error(`${file} holds ${bytes.byteLength / 4} values, expected ${want}`);
  // little-endian float32 on disk, as every platform Talkie runs on reads it
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** Max |a − b| and the rows of width `width` whose argmax differs. */
export function compare(name: string, want: Float32Array, got: Float32Array, width: number): Comparison {
  if (want.length !== got.length) throw new Error(`${name}: ONNX Runtime gave ${got.length} values, PyTorch ${want.length}`);
  let max = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(want[i] - got[i]);
    if (!(d <= max)) max = Number.isNaN(d) ? Infinity : d;
  }
  const rows = want.length / width;
  let mismatches = 0;
  for (let r = 0; r < rows; r++) if (argmax(want, r * width, width) !== argmax(got, r * width, width)) mismatches++;
  return { name, max_abs_diff: max, argmax_mismatches: mismatches, rows };
}

function argmax(data: Float32Array, start: number, width: number): number {
  let best = 0;
  for (let i = 1; i < width; i++) if (data[start + i] > data[start + best]) best = i;
  return best;
}

export async function checkParity(dir: string, options: SessionOptions = {}): Promise<ParityReport> {
  const ref = ParityReference.parse(JSON.parse(await readFile(path.join(dir, PARITY_DIR, 'parity.json'), 'utf8')));
  const model = await ModelSession.load(dir, options);
  try {
    const [, , frames] = ref.video.shape;
    const video = await readF32(dir, ref.video.file, ref.video.shape);
    const out = await model.run(video, frames);
    const vocab = out.vocab;
    const comparisons = [
      compare('ctc_log_probs', await readF32(dir, ref.ctc_log_probs.file, ref.ctc_log_probs.shape), out.data, vocab),
    ];
    if (!out.features) throw new Error('the encoder gave no features');
    const dim = out.features.dim;
    comparisons.push(compare('features', await readF32(dir, ref.features.file, ref.features.shape), out.features.data, dim));
    if (ref.decoder_steps.length) {
      if (!model.decoder) throw new Error('the package has no decoder, but the reference has decoder steps');
      const beam = await model.decoder.begin(out.features);
      let prefixes: number[][] = [[]];
      for (const [i, step] of ref.decoder_steps.entries()) {
        prefixes = step.tokens.map((token, b) => [...prefixes[step.parents[b]], token]);
        const got = await beam.step(prefixes, step.parents);
        comparisons.push(compare(`decoder step ${i} (${step.tokens.length} hypotheses)`, await readF32(dir, step.logp, step.shape), got, vocab));
      }
    }
    const ok = comparisons.every((c) => c.max_abs_diff <= ref.tolerance && c.argmax_mismatches === 0);
    return { ok, tolerance: ref.tolerance, providers: model.executionProviders, comparisons };
  } finally {
    await model.release();
  }
}
