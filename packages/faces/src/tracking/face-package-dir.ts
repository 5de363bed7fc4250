import path from 'node:path';
import type { RoiAlignment } from '@talkie/inference';
import { DEFAULT_FACE_MODELS_DIR, ensureFaceModels } from '../convert/face-models';
import { FaceModels, type FaceSessionOptions } from '../runtime/face-models';
import { loadMeanFace } from './mean-face';
import type { MeanFaceAlignment } from './mean-face-alignment';
import { MouthTracker } from './mouth-tracker';

export interface FacePackageChoice {
  dir: string;
  /** where the choice came from, for the start-up log */
  source: 'lip_package' | 'FACE_MODEL_DIR' | 'default';
  /** whether the default package was converted just now */
  built: boolean;
}

/**
 * Which face package the mouth tracker uses: the lip package's own (`roi.face_package`, relative
 * to it), else `FACE_MODEL_DIR`, else face-api's models converted into `.talkie/models/faces`
 * (built on first use from the installed npm package; nothing is downloaded).
 */
export async function chooseFacePackage(options: { lipPackageDir?: string; facePackage?: string; faceModelDir?: string; cwd?: string }): Promise<FacePackageChoice> {
  if (options.facePackage && options.lipPackageDir) {
    return { dir: path.resolve(options.lipPackageDir, options.facePackage), source: 'lip_package', built: false };
  }
  if (options.faceModelDir) return { dir: path.resolve(options.faceModelDir), source: 'FACE_MODEL_DIR', built: false };
  const dir = path.resolve(options.cwd ?? process.cwd(), DEFAULT_FACE_MODELS_DIR);
  const { built } = await ensureFaceModels(dir);
  return { dir, source: 'default', built };
}

/** A manifest's `roi.alignment` with what it names read from the lip package (its mean face). */
export async function loadAlignment(lipPackageDir: string, alignment: RoiAlignment): Promise<MeanFaceAlignment> {
  return { spec: alignment, meanFace: await loadMeanFace(path.join(lipPackageDir, alignment.mean_face)) };
}

/**
 * The worker's tracker for a lip package whose ROI is `landmarks`: the face package chosen as
 * above, its sessions created and warmed up (`FaceModels.load`), the crop size and alignment from
 * the manifest (a missing or malformed mean face stops the worker at start, not a job later).
 */
export async function loadMouthTracker(options: {
  lipPackageDir: string;
  roi: { face_package?: string; crop: { width: number; height: number }; alignment?: RoiAlignment };
  faceModelDir?: string;
  sessions?: FaceSessionOptions;
}): Promise<{ tracker: MouthTracker; choice: FacePackageChoice }> {
  const { roi, lipPackageDir } = options;
  const alignment = roi.alignment ? await loadAlignment(lipPackageDir, roi.alignment) : undefined;
  const choice = await chooseFacePackage({ lipPackageDir, facePackage: roi.face_package, faceModelDir: options.faceModelDir });
  const models = await FaceModels.load(choice.dir, options.sessions);
  try {
    return { tracker: new MouthTracker(models, { crop: roi.crop, alignment }), choice };
  } catch (err) {
    await models.release();
    throw err;
  }
}
