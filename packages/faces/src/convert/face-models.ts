import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { FACE_MANIFEST_FILE, parseFaceManifest, type FaceManifest } from '../face-package';
import { writeModelPackage } from '@talkie/inference';
import { buildFaceLandmark68Graph, FACE_LANDMARK_MEAN_RGB, LANDMARK_INPUT_SIZE, LANDMARK_MODELS, LANDMARK_POINTS, LANDMARKS_INPUT_NAME, LANDMARKS_OUTPUT_NAME, type LandmarkVariant } from './face-landmark-68';
import {
  buildTinyFaceDetectorGraph,
  DETECTOR_INPUT_NAME,
  DETECTOR_INPUT_SIZE,
  DETECTOR_OUTPUT_NAME,
  TINY_FACE_DETECTOR_ANCHORS,
  TINY_FACE_DETECTOR_IOU_THRESHOLD,
  TINY_FACE_DETECTOR_MEAN_RGB,
  TINY_FACE_DETECTOR_MODEL,
  TINY_FACE_DETECTOR_SCORE_THRESHOLD,
} from './tiny-face-detector';
import { readWeightMap } from './weights';

/**
 * Face model packages converted from `@vladmandic/face-api`'s weights (MIT): its TinyFaceDetector
 * and a 68-point landmark net, as ONNX graphs plus a `face.json`. Nothing is downloaded and no
 * weights live in this repository: they are read from the installed npm package at build time.
 */

/** Bump when a graph or the manifest changes: `ensureFaceModels` rebuilds packages of another version. */
export const FACE_CONVERTER_VERSION = '1.0.0';
export const DEFAULT_FACE_MODELS_DIR = path.join('.talkie', 'models', 'faces');

export const FACE_PACKAGE_NAMES: Record<LandmarkVariant, string> = {
  full: 'face-api-tiny',
  tiny: 'face-api-tiny-landmarks-tiny',
};

export interface FaceModelsOptions {
  /** which landmark net: face-api's FaceLandmark68Net (`full`, default) or FaceLandmark68TinyNet */
  landmarks?: LandmarkVariant;
  /** where face-api's weight files are; the installed package's `model/` by default */
  weightsDir?: string;
}

const packageRoot = () => path.dirname(require.resolve('@vladmandic/face-api/package.json'));

/** The `model/` folder of the installed `@vladmandic/face-api`. */
export function faceApiWeightsDir(): string {
  return path.join(packageRoot(), 'model');
}

/** The installed face-api's version, part of each package's version so an upgrade rebuilds. */
export async function faceApiVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const STD_255: [number, number, number] = [255, 255, 255];

/** The `face.json` of a converted package (validated against the schema before it is written). */
export function faceApiManifest(variant: LandmarkVariant, sourceVersion: string): FaceManifest {
  return parseFaceManifest({
    schema: 'talkie.face/v1',
    name: FACE_PACKAGE_NAMES[variant],
    version: `${FACE_CONVERTER_VERSION}+face-api.${sourceVersion}`,
    description:
      `face-api ${sourceVersion} (MIT, @vladmandic/face-api): TinyFaceDetector and ` +
      `${variant === 'full' ? 'FaceLandmark68Net' : 'FaceLandmark68TinyNet'}, converted to ONNX by Talkie`,
    detector: {
      model_file: 'detector.onnx',
      input: {
        name: DETECTOR_INPUT_NAME,
        width: DETECTOR_INPUT_SIZE,
        height: DETECTOR_INPUT_SIZE,
        layout: 'NCHW',
        channels: 3,
        resize: 'pad_square',
        normalize: { mean: TINY_FACE_DETECTOR_MEAN_RGB, std: STD_255 },
      },
      output: {
        kind: 'tiny_yolo_v2',
        name: DETECTOR_OUTPUT_NAME,
        anchors: TINY_FACE_DETECTOR_ANCHORS,
        score_threshold: TINY_FACE_DETECTOR_SCORE_THRESHOLD,
        iou_threshold: TINY_FACE_DETECTOR_IOU_THRESHOLD,
      },
    },
    landmarks: {
      model_file: 'landmarks.onnx',
      input: {
        name: LANDMARKS_INPUT_NAME,
        width: LANDMARK_INPUT_SIZE,
        height: LANDMARK_INPUT_SIZE,
        layout: 'NCHW',
        channels: 3,
        // face-api crops the detection box as it is and pads it to a square on both sides
        resize: 'pad_square_center',
        normalize: { mean: FACE_LANDMARK_MEAN_RGB, std: STD_255 },
      },
      crop: { padding: 0 },
      output: { name: LANDMARKS_OUTPUT_NAME, points: LANDMARK_POINTS, layout: 'xy_relative' },
      mouth: range(48, 67),
      align: { left_eye: range(36, 41), right_eye: range(42, 47) },
    },
  });
}

/** Converts face-api's weights and writes the package (detector.onnx, landmarks.onnx, face.json) into `dir`. */
export async function writeFaceModels(dir: string, options: FaceModelsOptions = {}): Promise<FaceManifest> {
  const variant = options.landmarks ?? 'full';
  const weightsDir = options.weightsDir ?? faceApiWeightsDir();
  const manifest = faceApiManifest(variant, await faceApiVersion());
  const detector = buildTinyFaceDetectorGraph(await readWeightMap(weightsDir, TINY_FACE_DETECTOR_MODEL));
  const landmarks = buildFaceLandmark68Graph(await readWeightMap(weightsDir, LANDMARK_MODELS[variant].file), variant);

  // the manifest last: its presence means the rest is there
  await writeModelPackage(dir, [
    [manifest.detector!.model_file, detector],
    [manifest.landmarks.model_file, landmarks],
    [FACE_MANIFEST_FILE, `${JSON.stringify(manifest, null, 2)}\n`],
  ]);
  return manifest;
}

/**
 * Builds the package in `dir` unless an up-to-date one is there (same name, same converter and
 * face-api versions, both models present). Services call this at start; it takes well under a
 * second when there is nothing to do.
 */
export async function ensureFaceModels(dir: string, options: FaceModelsOptions = {}): Promise<{ built: boolean; manifest: FaceManifest }> {
  const expected = faceApiManifest(options.landmarks ?? 'full', await faceApiVersion());
  try {
    const found = parseFaceManifest(JSON.parse(await readFile(path.join(dir, FACE_MANIFEST_FILE), 'utf8')));
    if (found.name === expected.name && found.version === expected.version) {
      await access(path.join(dir, found.detector!.model_file));
      await access(path.join(dir, found.landmarks.model_file));
      return { built: false, manifest: found };
    }
  } catch {
    // absent, unreadable or from another version: build it
  }
  return { built: true, manifest: await writeFaceModels(dir, options) };
}
