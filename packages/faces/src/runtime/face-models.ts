import * as ort from 'onnxruntime-node';
import { createSessionWithFallback, NoUsableProviderError, type ProviderFallback } from '@talkie/inference';
import { FacePackageError, loadFacePackage, type FacePackage, type FaceModelInput } from '../face-package';
import type { FaceBox } from '../detect/box';
import { nonMaxSuppression } from '../detect/nms';
import { decodeTinyYolo } from '../detect/tiny-yolo';
import { faceCrop } from '../detect/landmarks';
import { modelInputMapping, toModelInput } from '../detect/image';
import { sampleInput, type InputMapping, type Rect, type RgbFrame } from './image';

export interface FaceSessionOptions {
  /** in order of preference, e.g. ['cuda', 'cpu'] */
  executionProviders?: string[];
  intraOpThreads?: number;
}

export type { FaceBox };

const inputSize = (spec: FaceModelInput) => spec.width * spec.height * spec.channels;
const inputDims = (spec: FaceModelInput, batch: number) =>
  spec.layout === 'NCHW' ? [batch, spec.channels, spec.height, spec.width] : [batch, spec.height, spec.width, spec.channels];

/**
 * The ONNX sessions of one face package: the detector (optional) and the landmark model. Created
 * once per process; every call takes a batch, so a video's frames go through in few runs.
 */
export class FaceModels {
  private constructor(
    readonly pkg: FacePackage,
    private readonly landmarkSession: ort.InferenceSession,
    private readonly detectorSession: ort.InferenceSession | undefined,
    /** what the landmark model runs with; its first entry runs the graph */
    readonly executionProviders: string[],
    /** providers given up on at load, by either model, with ONNX Runtime's reason */
    readonly providerFallbacks: ProviderFallback[],
  ) {}

  private loadedMs = 0;

  /** from the start of `load` to warmed-up sessions */
  get loadMs(): number {
    return this.loadedMs;
  }

  static async load(dir: string, options: FaceSessionOptions = {}): Promise<FaceModels> {
    const started = performance.now();
    const pkg = await loadFacePackage(dir);
    const { manifest } = pkg;
    const requested = options.executionProviders?.length ? options.executionProviders : ['cpu'];
    const open = async (file: string, input: string, output: string, providers: string[]) => {
      const selection = await createSessionWithFallback(file, providers, { intraOpThreads: options.intraOpThreads }).catch((err: unknown) => {
        if (err instanceof NoUsableProviderError) throw err;
        throw new FacePackageError(`face package ${dir}: ONNX Runtime could not load ${file}: ${(err as Error).message}`);
      });
      const { session } = selection;
      if (!session.inputNames.includes(input)) {
        throw new FacePackageError(`face package ${dir}: ${file} has no input "${input}" (it has ${session.inputNames.join(', ')})`);
      }
      if (!session.outputNames.includes(output)) {
        throw new FacePackageError(`face package ${dir}: ${file} has no output "${output}" (it has ${session.outputNames.join(', ')})`);
      }
      return selection;
    };
    const landmarks = await open(pkg.landmarksPath, manifest.landmarks.input.name, manifest.landmarks.output.name, requested);
    // on what the landmark model ended up with: a provider that failed to load once would fail again
    const detector =
      manifest.detector && pkg.detectorPath
        ? await open(pkg.detectorPath, manifest.detector.input.name, manifest.detector.output.name, landmarks.active)
        : undefined;
    const fallbacks = [...landmarks.fallbacks, ...(detector?.fallbacks ?? [])];
    const models = new FaceModels(pkg, landmarks.session, detector?.session, landmarks.active, fallbacks);
    await models.warmUp();
    models.loadedMs = performance.now() - started;
    return models;
  }

  get manifest() {
    return this.pkg.manifest;
  }

  get hasDetector(): boolean {
    return this.detectorSession !== undefined;
  }

  /**
   * The best face in each frame (highest score after non-maximum suppression), or null. Without a
   * detector in the package, every frame is one face covering the whole frame.
   */
  async detect(frames: RgbFrame[]): Promise<(FaceBox | null)[]> {
    return (await this.detectAll(frames)).map((faces) => faces[0] ?? null);
  }

  /**
   * Every face in each frame above the detector's score threshold, after non-maximum suppression,
   * best first (issue 17: the tracker follows several). Without a detector in the package, every
   * frame is one face covering the whole frame.
   */
  async detectAll(frames: RgbFrame[]): Promise<FaceBox[][]> {
    const detector = this.manifest.detector;
    if (!detector || !this.detectorSession) return frames.map((f) => [{ x: 0, y: 0, width: f.width, height: f.height, score: 1 }]);
    if (frames.length === 0) return [];
    const spec = detector.input;
    const size = inputSize(spec);
    const batch = new Float32Array(size * frames.length);
    const maps = frames.map((frame, i) => fillInput(frame, { x: 0, y: 0, width: frame.width, height: frame.height }, spec, batch, i));
    const results = await this.detectorSession.run({ [spec.name]: new ort.Tensor('float32', batch, inputDims(spec, frames.length)) });
    const out = results[detector.output.name];
    const data = out.data as Float32Array;
    const output = detector.output;
    if (output.kind === 'boxes') {
      const [b, n, k] = out.dims;
      if (out.dims.length !== 3 || b !== frames.length || k !== 5) {
        throw new FacePackageError(`detector output "${output.name}" has shape [${out.dims.join(', ')}], expected [${frames.length}, N, 5]`);
      }
      return frames.map((frame, i) => {
        const found: FaceBox[] = [];
        for (let j = 0; j < n; j++) {
          const o = (i * n + j) * 5;
          const score = data[o + 4];
          if (!(score >= output.score_threshold)) continue;
          found.push(toFrame(maps[i], data[o], data[o + 1], data[o + 2], data[o + 3], score, frame));
        }
        return nonMaxSuppression(found, output.iou_threshold);
      });
    }
    return frames.map((frame, i) =>
      nonMaxSuppression(
        decodeTinyYolo(
          { data, dims: out.dims },
          {
            anchors: output.anchors,
            scoreThreshold: output.score_threshold,
            inputSize: spec.width,
            imageWidth: frame.width,
            imageHeight: frame.height,
            resize: spec.resize === 'stretch' ? 'stretch' : 'pad_square',
          },
          i,
        ),
        output.iou_threshold,
      ),
    );
  }

  /**
   * Landmarks for each (frame, face box): all of the model's points as x0, y0, x1, y1, … in frame
   * coordinates. One model run per call: pass a batch.
   */
  async landmarks(items: { frame: RgbFrame; box: Rect }[]): Promise<(Float32Array | null)[]> {
    const spec = this.manifest.landmarks;
    // face-api's crop: the box (grown by the padding) clipped to the frame, whole pixels; none
    // when the box has left the frame. Without a detector the box is the frame.
    const padding = this.manifest.detector ? spec.crop.padding : 0;
    const crops = items.map(({ frame, box }) => faceCrop(box, frame.width, frame.height, padding));
    const runnable = items.map((_, i) => i).filter((i) => crops[i]);
    const result: (Float32Array | null)[] = items.map(() => null);
    if (runnable.length === 0) return result;
    const size = inputSize(spec.input);
    const batch = new Float32Array(size * runnable.length);
    const maps = runnable.map((i, k) => fillInput(items[i].frame, crops[i]!, spec.input, batch, k));
    const results = await this.landmarkSession.run({ [spec.input.name]: new ort.Tensor('float32', batch, inputDims(spec.input, runnable.length)) });
    const out = results[spec.output.name];
    const values = spec.output.points * 2;
    if (out.dims[0] !== runnable.length || out.size !== runnable.length * values) {
      throw new FacePackageError(`landmark output "${spec.output.name}" has shape [${out.dims.join(', ')}], expected [${runnable.length}, ${values}]`);
    }
    const data = out.data as Float32Array;
    const { width: W, height: H } = spec.input;
    runnable.forEach((i, k) => {
      const map = maps[k];
      const points = new Float32Array(values);
      for (let p = 0; p < values; p += 2) {
        points[p] = map.x + data[k * values + p] * W * map.sx;
        points[p + 1] = map.y + data[k * values + p + 1] * H * map.sy;
      }
      result[i] = points;
    });
    return result;
  }

  /** Runs both models once on a black frame: loads kernels and checks output shapes before the worker reports ready. */
  private async warmUp(): Promise<void> {
    const frame: RgbFrame = { data: new Uint8Array(64 * 48 * 3), width: 64, height: 48 };
    await this.detect([frame]);
    await this.landmarks([{ frame, box: { x: 16, y: 8, width: 32, height: 32 } }]);
  }

  async release(): Promise<void> {
    await this.landmarkSession.release();
    await this.detectorSession?.release();
  }
}

function toFrame(map: InputMapping, x1: number, y1: number, x2: number, y2: number, score: number, frame: RgbFrame): FaceBox {
  const left = Math.max(0, map.x + x1 * map.sx);
  const top = Math.max(0, map.y + y1 * map.sy);
  const right = Math.min(frame.width, map.x + x2 * map.sx);
  const bottom = Math.min(frame.height, map.y + y2 * map.sy);
  return { x: left, y: top, width: Math.max(0, right - left), height: Math.max(0, bottom - top), score };
}

/**
 * One batch item of a model's input from a region of the frame, and how input positions map back
 * to the frame. Three-channel inputs are made exactly as face-api makes them (`toModelInput`:
 * TensorFlow's bilinear resize, no half-pixel centres), so converted face-api models see what they
 * were trained and validated on. Grey inputs use `sampleInput`.
 */
function fillInput(frame: RgbFrame, region: Rect, spec: FaceModelInput, out: Float32Array, index: number): InputMapping {
  if (spec.channels !== 3) return sampleInput(frame, region, spec, out, index * inputSize(spec));
  toModelInput(frame, spec, out, index, region);
  return modelInputMapping(region, spec);
}
