import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

/** A file or folder named by a package's manifest: relative, and never outside the package's folder. */
export const PackagePath = z.string().min(1).refine((p) => !path.isAbsolute(p) && !p.split(/[\\/]/).includes('..'), 'must be a path inside the package');

/** Points a mean face has: the 68-point iBUG scheme that Auto-AVSR's detectors emit. */
export const MEAN_FACE_POINTS = 68;

const pointIndex = z.number().int().min(0).max(MEAN_FACE_POINTS - 1);

/**
 * `roi.alignment` of a `landmarks` ROI: how each frame is registered before the mouth crop is cut,
 * so that a model sees crops of the geometry it was trained on (crops of another geometry cost it
 * accuracy). Absent, Talkie's own geometry applies: eye and mouth centres onto a fixed reference
 * face, landmarks averaged over 5 frames. A model family whose preparation differs declares it
 * here as another `method`, with the parameters its own preparation code takes.
 */
export const RoiAlignment = z.discriminatedUnion('method', [
  z.object({
    /**
     * Auto-AVSR's (mpc001/auto_avsr, `preparation/detectors/retinaface/video_process.py`): the
     * landmarks averaged over `smoothing_window` frames and moved back onto the frame's own centroid,
     * a similarity from their `stable_points` to the mean face's that warps the frame into a
     * `reference_size` image (black where the frame has none), and the crop cut from that image
     * around the mean of the registered `mouth_points`, its corner rounded to whole pixels.
     */
    method: z.literal('mean_face'),
    /**
     * a JSON file in the package, `{"points": [[x, y], …]}` with 68 points in the registered
     * image's pixels, OpenCV's convention (pixel centres at whole numbers), as upstream's
     * `20words_mean_face.npy` holds them
     */
    mean_face: PackagePath,
    /** the registered image's size (upstream: 256×256); the crop is cut from it */
    reference_size: z.object({ width: z.number().int().positive().max(4096), height: z.number().int().positive().max(4096) }),
    /** 0-based indices of the landmarks the similarity is fitted on (upstream: nose, eye corners, mouth corners) */
    stable_points: z.array(pointIndex).min(2).max(MEAN_FACE_POINTS),
    /**
     * upstream's `window_margin`: frame i's landmarks are averaged over frames i − r … i + r with
     * r = min(⌊window/2⌋, i, frames − 1 − i), so the window shrinks at the ends; 0 or 1: no smoothing
     */
    smoothing_window: z.number().int().min(0).max(300),
    /** the crop's centre is the mean of the registered landmarks[start:stop] (Python's slice: stop excluded) */
    mouth_points: z.object({ start: pointIndex, stop: z.number().int().min(1).max(MEAN_FACE_POINTS) }),
  }),
]);
export type RoiAlignment = z.infer<typeof RoiAlignment>;

/** Start and end of sentence; ESPnet uses one token for both, the last of the list. */
const SentenceTokens = { sos: z.number().int().nonnegative(), eos: z.number().int().nonnegative() };

/**
 * An attention decoder run one step at a time (ESPnet's `forward_one_step`): `tokens` (int64
 * [B, L], starting with `sos`) and `memory` (the encoder features, float [B, T, D]) in, `output`
 * ([B, vocab], the next token's scores over the same token list) out. Each step re-reads the
 * whole prefix: simple to export, slow for large models (`kv_cache` below is the fast form).
 */
const PrefixDecoder = z.object({
  kind: z.literal('prefix'),
  model_file: PackagePath,
  inputs: z.object({ tokens: z.string().min(1), memory: z.string().min(1) }),
  output: z.string().min(1),
  /** whether `output` is already log-probabilities; raw logits otherwise */
  log_probs: z.boolean(),
  /**
   * `shared`: the graph broadcasts one (1, T, D) memory over the B hypotheses (cheaper: no copy
   * per hypothesis); `per_hypothesis`: it wants (B, T, D), as an ESPnet export does
   */
  memory_batch: z.enum(['shared', 'per_hypothesis']),
  ...SentenceTokens,
});

/**
 * A decoder exported for beam search (tools/export): `memory_file` turns the encoder features
 * (`memory`, float [1, T, D]) into each layer's cross-attention keys and values once per
 * utterance (`cross_k_<i>`, `cross_v_<i>`, [1, heads, T, d_k]); `model_file` runs one step for
 * the whole beam from each hypothesis' last token (`token`, int64 [B]), the rows of its prefix in
 * an append-only key/value history (`index`, int64 [B, P]; `hist_k_<i>`, `hist_v_<i>`, float
 * [heads, rows, d_k]) and the cross-attention tensors, and returns `logp` ([B, vocab]) with the
 * rows the step adds (`new_k_<i>`, `new_v_<i>`, [heads, B, d_k]). Names are fixed by this format.
 */
const CachedDecoder = z.object({
  kind: z.literal('kv_cache'),
  model_file: PackagePath,
  memory_file: PackagePath,
  /** whether `logp` is already log-probabilities; raw logits otherwise */
  log_probs: z.boolean(),
  ...SentenceTokens,
});

/** Packages written before `kind` existed have prefix decoders; a discriminated union keeps errors on their field. */
const AttentionDecoderSpec = z.preprocess(
  (v) => (v && typeof v === 'object' && !Array.isArray(v) && !('kind' in v) ? { ...v, kind: 'prefix' } : v),
  z.discriminatedUnion('kind', [CachedDecoder, PrefixDecoder]),
);

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
    model_file: PackagePath.default('model.onnx'),
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
      z.object({
        /**
         * track the mouth with a face package (landmarks, smoothing, similarity alignment to a
         * reference face), cut a `crop`-sized mouth crop, then take its centred input-sized part
         * (Auto-AVSR: 96×96, then 88×88)
         */
        mode: z.literal('landmarks'),
        /** face package folder inside this package; unset: `FACE_MODEL_DIR`, else the converted face-api package */
        face_package: PackagePath.optional(),
        crop: z.object({ width: z.number().int().positive().max(1024), height: z.number().int().positive().max(1024) }).default({ width: 96, height: 96 }),
        /** how frames are registered before the crop; absent: Talkie's own reference face */
        alignment: RoiAlignment.optional(),
      }),
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
      /**
       * the encoder's second output, (N, T, D) features for an attention decoder (`decoder`); the
       * CTC output above is then the encoder's CTC head
       */
      features: z.string().min(1).optional(),
    }),
    /** An attention decoder for `decoding.method` `joint`: a whole-prefix graph or a cached one (below). */
    decoder: AttentionDecoderSpec.optional(),
    decoding: z
      .object({
        /** `joint`: attention beam search rescored by CTC prefix scores (needs `decoder`) */
        method: z.enum(['greedy', 'beam', 'joint']).default('beam'),
        beam_width: z.number().int().min(1).max(256).default(8),
        /** joint decoding: λ in (1 − λ)·attention + λ·CTC (Auto-AVSR: 0.1); 1 is CTC scores only */
        ctc_weight: z.number().min(0).max(1).optional(),
        /** joint decoding: added to a hypothesis' score per token (ESPnet's `penalty`); 0 when unset */
        length_bonus: z.number().min(-100).max(100).optional(),
        /** joint decoding: most tokens as a fraction of the encoder's steps; 0 or unset: the steps themselves */
        max_length_ratio: z.number().min(0).max(1).optional(),
      })
      .default({ method: 'beam', beam_width: 8 }),
  })
  .superRefine((m, ctx) => {
    if (m.output.blank >= m.output.tokens.length) {
      ctx.addIssue({ code: 'custom', path: ['output', 'blank'], message: 'must index into tokens' });
    }
    checkDecoder(m, ctx);
    if (m.roi.mode === 'center' && m.roi.scale && (m.roi.scale.width < m.input.width || m.roi.scale.height < m.input.height)) {
      ctx.addIssue({ code: 'custom', path: ['roi', 'scale'], message: 'must be at least the input size' });
    }
    if (m.roi.mode === 'landmarks' && (m.roi.crop.width < m.input.width || m.roi.crop.height < m.input.height)) {
      ctx.addIssue({ code: 'custom', path: ['roi', 'crop'], message: 'must be at least the input size' });
    }
    if (m.roi.mode === 'landmarks') checkRoiAlignment(m.roi, ctx);
  });
export type ModelManifest = z.infer<typeof ModelManifest>;

/** The decoder and joint-decoding fields that only make sense together (issue 5). */
function checkDecoder(
  m: { output: { tokens: string[]; blank: number; features?: string }; decoder?: { sos: number; eos: number }; decoding: { method: string; ctc_weight?: number } },
  ctx: z.RefinementCtx,
): void {
  const { decoder, decoding, output } = m;
  if (decoder) {
    for (const key of ['sos', 'eos'] as const) {
      if (decoder[key] >= output.tokens.length || decoder[key] === output.blank) {
        ctx.addIssue({ code: 'custom', path: ['decoder', key], message: 'must index into tokens, and not be the blank' });
      }
    }
    if (!output.features) {
      ctx.addIssue({ code: 'custom', path: ['output', 'features'], message: 'required with a decoder: the encoder output it reads as memory' });
    }
  }
  if (decoding.method === 'joint') {
    if (!decoder) ctx.addIssue({ code: 'custom', path: ['decoding', 'method'], message: 'joint decoding needs a decoder' });
    if (decoding.ctc_weight === undefined) {
      ctx.addIssue({ code: 'custom', path: ['decoding', 'ctc_weight'], message: 'required for joint decoding' });
    }
  }
}

/** The alignment fields that only make sense together, and with the crop. */
function checkRoiAlignment(roi: { crop: { width: number; height: number }; alignment?: RoiAlignment }, ctx: z.RefinementCtx): void {
  const { alignment, crop } = roi;
  if (!alignment) return;
  const at = (...rest: string[]) => ['roi', 'alignment', ...rest];
  if (new Set(alignment.stable_points).size !== alignment.stable_points.length) {
    ctx.addIssue({ code: 'custom', path: at('stable_points'), message: 'must not repeat a point' });
  }
  if (alignment.mouth_points.start >= alignment.mouth_points.stop) {
    ctx.addIssue({ code: 'custom', path: at('mouth_points'), message: 'start must be below stop' });
  }
  if (crop.width > alignment.reference_size.width || crop.height > alignment.reference_size.height) {
    ctx.addIssue({ code: 'custom', path: ['roi', 'crop'], message: 'must fit in alignment.reference_size: the crop is cut from the registered image' });
  }
  // upstream cuts centre ± ⌊size/2⌋: an odd size would give a crop a pixel short of it
  if (crop.width % 2 !== 0 || crop.height % 2 !== 0) {
    ctx.addIssue({ code: 'custom', path: ['roi', 'crop'], message: 'must be even with a mean_face alignment' });
  }
}

export class ManifestError extends Error {
  override name = 'ManifestError';
}

export interface ModelPackage {
  dir: string;
  manifest: ModelManifest;
  modelPath: string;
  /** the attention decoder's ONNX file, when the manifest has a `decoder` */
  decoderPath?: string;
  /** a `kv_cache` decoder's memory graph */
  decoderMemoryPath?: string;
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
  const { decoder } = parsed.data;
  return {
    dir,
    manifest: parsed.data,
    modelPath: path.join(dir, parsed.data.model_file),
    ...(decoder ? { decoderPath: path.join(dir, decoder.model_file) } : {}),
    ...(decoder?.kind === 'kv_cache' ? { decoderMemoryPath: path.join(dir, decoder.memory_file) } : {}),
  };
}
