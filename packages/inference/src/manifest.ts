import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

/**
 * `model.json`: everything the pipeline needs to feed a model and read its output. The pipeline
 * takes no defaults that a model could disagree with; a package says what it was trained on.
 */
export const ModelManifest = z
  .object({
    schema: z.literal('talkie.model/v1'),
    name: z.string().min(1).max(128),
    version: z.string().min(1).max(64),
    description: z.string().optional(),
    /** true for models Talkie generates itself: logged loudly so nobody mistakes them for real lip reading */
    demo: z.boolean().default(false),
    /** path of the ONNX file, relative to the package folder */
    model_file: z
      .string()
      .default('model.onnx')
      .refine((p) => !path.isAbsolute(p) && !p.split(/[\\/]/).includes('..'), 'must be a path inside the package'),
    /** frames per second the model was trained on; every video is resampled to it */
    frame_rate: z.number().positive().max(240),
    input: z.object({
      name: z.string().min(1),
      /** batch, channel, time, height, width: the Auto-AVSR visual front-end's layout */
      layout: z.literal('NCTHW'),
      channels: z.literal(1),
      width: z.number().int().positive().max(1024),
      height: z.number().int().positive().max(1024),
    }),
    roi: z.discriminatedUnion('mode', [
      z.object({
        mode: z.literal('center'),
        /** optional resize of the whole frame before the centred crop (e.g. 96×96 then 88×88) */
        scale: z.object({ width: z.number().int().positive(), height: z.number().int().positive() }).optional(),
      }),
      z.object({ mode: z.literal('full') }),
    ]),
    /** applied to pixel/255: (x - mean) / std */
    normalize: z.object({ mean: z.number(), std: z.number().positive() }),
    output: z.object({
      name: z.string().min(1),
      kind: z.literal('ctc'),
      layout: z.literal('NTC'),
      /** whether the output is already log-probabilities; raw logits otherwise */
      log_probs: z.boolean().default(false),
      tokens: z.array(z.string()).min(2),
      blank: z.number().int().nonnegative(),
      /** a token that separates words (`|`), or a prefix that starts one (SentencePiece `▁`) */
      word_delimiter: z.string().min(1),
    }),
    decoding: z
      .object({
        method: z.enum(['greedy', 'beam']).default('beam'),
        beam_width: z.number().int().min(1).max(256).default(8),
      })
      .default({ method: 'beam', beam_width: 8 }),
  })
  .superRefine((m, ctx) => {
    if (m.output.blank >= m.output.tokens.length) {
      ctx.addIssue({ code: 'custom', path: ['output', 'blank'], message: 'must index into tokens' });
    }
    if (m.roi.mode === 'center' && m.roi.scale && (m.roi.scale.width < m.input.width || m.roi.scale.height < m.input.height)) {
      ctx.addIssue({ code: 'custom', path: ['roi', 'scale'], message: 'must be at least the input size' });
    }
  });
export type ModelManifest = z.infer<typeof ModelManifest>;

export class ManifestError extends Error {
  override name = 'ManifestError';
}

export interface ModelPackage {
  dir: string;
  manifest: ModelManifest;
  modelPath: string;
}

/** Reads and validates `<dir>/model.json`; every problem is reported at once, with the file named. */
export async function loadModelPackage(dir: string): Promise<ModelPackage> {
  const manifestPath = path.join(dir, 'model.json');
  let raw: string;
  try {
    raw = await readFile(manifestPath, 'utf8');
  } catch {
    throw new ManifestError(`model package ${dir}: no readable model.json`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new ManifestError(`model package ${dir}: model.json is not valid JSON (${(err as Error).message})`);
  }
  const parsed = ModelManifest.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n');
    throw new ManifestError(`model package ${dir}: invalid model.json\n${issues}`);
  }
  return { dir, manifest: parsed.data, modelPath: path.join(dir, parsed.data.model_file) };
}
