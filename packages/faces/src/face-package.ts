import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { PackagePath } from '@talkie/inference';

/**
 * `face.json` (`talkie.face/v1`): a face model package, the detector and landmark ONNX models the
 * mouth tracker runs, and everything needed to feed them and read their outputs. Like `model.json`
 * for lip models, it takes no defaults a model could disagree with.
 */

/** How a square or rectangular image is fed to a model. */
export const FaceModelInput = z.object({
  name: z.string().min(1),
  width: z.number().int().positive().max(2048),
  height: z.number().int().positive().max(2048),
  layout: z.enum(['NCHW', 'NHWC']),
  channels: z.union([z.literal(3), z.literal(1)]),
  /** `pad_square`: keep the aspect ratio, pad right/bottom to a square, then scale; `stretch`: scale each axis */
  // `pad_square_center` (added for issue 10's converter): pad both sides of the short axis, the odd
  // pixel after, as face-api pads face crops for its landmark nets (`padToSquare(…, true)`)
  resize: z.enum(['pad_square', 'stretch', 'pad_square_center']),
  /** applied to pixels on 0..255: (p - mean[c]) / std[c]; one value applies to every channel */
  normalize: z.object({
    mean: z.array(z.number()).min(1).max(3),
    std: z.array(z.number().positive()).min(1).max(3),
  }),
});
export type FaceModelInput = z.infer<typeof FaceModelInput>;

const threshold = z.number().min(0).max(1);

export const DetectorOutput = z.discriminatedUnion('kind', [
  z.object({
    /** a Tiny-YOLOv2 grid [B, A·(5+classes), H, W] (face-api's TinyFaceDetector) */
    kind: z.literal('tiny_yolo_v2'),
    name: z.string().min(1),
    anchors: z.array(z.tuple([z.number().positive(), z.number().positive()])).min(1),
    score_threshold: threshold,
    iou_threshold: threshold,
  }),
  z.object({
    /** [B, N, 5]: x1, y1, x2, y2, score, in input pixels */
    kind: z.literal('boxes'),
    name: z.string().min(1),
    score_threshold: threshold,
    iou_threshold: threshold,
  }),
]);
export type DetectorOutput = z.infer<typeof DetectorOutput>;

const pointIndices = z.array(z.number().int().nonnegative()).min(1);

export const FaceManifest = z
  .object({
    schema: z.literal('talkie.face/v1'),
    name: z.string().min(1).max(128),
    version: z.string().min(1).max(64),
    description: z.string().optional(),
    /** true for models Talkie generates itself (synthetic lips), logged so nobody mistakes them for real faces */
    demo: z.boolean().default(false),
    /** absent: landmarks run on the whole frame */
    detector: z
      .object({
        model_file: PackagePath,
        input: FaceModelInput,
        output: DetectorOutput,
      })
      .optional(),
    landmarks: z.object({
      model_file: PackagePath,
      input: FaceModelInput,
      /** the face box is grown by this fraction of its size on every side before the crop */
      crop: z.object({ padding: z.number().min(0).max(2) }),
      output: z.object({
        name: z.string().min(1),
        points: z.number().int().positive().max(1024),
        /** [B, points·2] as x0, y0, x1, y1, … in 0..1 of the crop */
        layout: z.literal('xy_relative'),
      }),
      /** indices of the mouth's points (48–67 in the 68-point iBUG scheme) */
      mouth: pointIndices,
      /** eye points, for alignment by the eyes as well as the mouth */
      align: z.object({ left_eye: pointIndices, right_eye: pointIndices }).optional(),
    }),
  })
  .superRefine((m, ctx) => {
    const points = m.landmarks.output.points;
    const check = (indices: number[], where: (string | number)[]) => {
      if (indices.some((i) => i >= points)) ctx.addIssue({ code: 'custom', path: where, message: `indices must be below ${points}` });
    };
    check(m.landmarks.mouth, ['landmarks', 'mouth']);
    if (m.landmarks.mouth.length < 2) ctx.addIssue({ code: 'custom', path: ['landmarks', 'mouth'], message: 'needs at least 2 points' });
    if (m.landmarks.align) {
      check(m.landmarks.align.left_eye, ['landmarks', 'align', 'left_eye']);
      check(m.landmarks.align.right_eye, ['landmarks', 'align', 'right_eye']);
    }
    for (const [key, spec] of [['detector', m.detector?.input], ['landmarks', m.landmarks.input]] as const) {
      if (!spec) continue;
      for (const field of ['mean', 'std'] as const) {
        const n = spec.normalize[field].length;
        if (n !== 1 && n !== spec.channels) {
          ctx.addIssue({ code: 'custom', path: [key, 'input', 'normalize', field], message: `needs 1 or ${spec.channels} values` });
        }
      }
    }
  });
export type FaceManifest = z.infer<typeof FaceManifest>;

export class FacePackageError extends Error {
  override name = 'FacePackageError';
}

export interface FacePackage {
  dir: string;
  manifest: FaceManifest;
  /** absolute paths of the ONNX files */
  detectorPath?: string;
  landmarksPath: string;
}

export const FACE_MANIFEST_FILE = 'face.json';

/** Validates an already parsed `face.json`; every problem is reported at once. */
export function parseFaceManifest(json: unknown, where = 'face package'): FaceManifest {
  const parsed = FaceManifest.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n');
    throw new FacePackageError(`${where}: invalid ${FACE_MANIFEST_FILE}\n${issues}`);
  }
  return parsed.data;
}

/** Reads and validates `<dir>/face.json`, with the file named in every error. */
export async function loadFacePackage(dir: string): Promise<FacePackage> {
  const file = path.join(dir, FACE_MANIFEST_FILE);
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch {
    throw new FacePackageError(`face package ${dir}: no readable ${FACE_MANIFEST_FILE}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new FacePackageError(`face package ${dir}: ${FACE_MANIFEST_FILE} is not valid JSON (${(err as Error).message})`);
  }
  const manifest = parseFaceManifest(json, `face package ${dir}`);
  return {
    dir,
    manifest,
    ...(manifest.detector ? { detectorPath: path.join(dir, manifest.detector.model_file) } : {}),
    landmarksPath: path.join(dir, manifest.landmarks.model_file),
  };
}
