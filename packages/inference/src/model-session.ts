import * as ort from 'onnxruntime-node';
import { loadModelPackage, ManifestError, type ModelPackage } from './manifest';

export interface SessionOptions {
  /** in order of preference, e.g. ['cuda', 'cpu'] */
  executionProviders?: string[];
  intraOpThreads?: number;
}

/**
 * One ONNX Runtime session per process, created at start and reused for every job. Creating one
 * per job would reload weights and re-plan the graph each time.
 */
export class ModelSession {
  private constructor(
    readonly pkg: ModelPackage,
    private readonly session: ort.InferenceSession,
    readonly executionProviders: string[],
    readonly loadMs: number,
  ) {}

  static async load(dir: string, options: SessionOptions = {}): Promise<ModelSession> {
    const started = performance.now();
    const pkg = await loadModelPackage(dir);
    const providers = options.executionProviders?.length ? options.executionProviders : ['cpu'];
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(pkg.modelPath, {
        executionProviders: providers,
        graphOptimizationLevel: 'all',
        ...(options.intraOpThreads ? { intraOpNumThreads: options.intraOpThreads } : {}),
      });
    } catch (err) {
      throw new ManifestError(`model package ${dir}: ONNX Runtime could not load ${pkg.manifest.model_file}: ${(err as Error).message}`);
    }
    const { input, output } = pkg.manifest;
    if (!session.inputNames.includes(input.name)) {
      throw new ManifestError(`model package ${dir}: the graph has no input "${input.name}" (it has ${session.inputNames.join(', ')})`);
    }
    if (!session.outputNames.includes(output.name)) {
      throw new ManifestError(`model package ${dir}: the graph has no output "${output.name}" (it has ${session.outputNames.join(', ')})`);
    }
    const model = new ModelSession(pkg, session, providers, 0);
    await model.warmUp();
    return new ModelSession(pkg, session, providers, performance.now() - started);
  }

  /** Runs the model on `frames` normalised frames; returns (steps × vocab) scores. */
  async run(input: Float32Array, frames: number): Promise<{ data: Float32Array; steps: number; vocab: number }> {
    const { input: spec, output } = this.pkg.manifest;
    const tensor = new ort.Tensor('float32', input, [1, 1, frames, spec.height, spec.width]);
    const results = await this.session.run({ [spec.name]: tensor });
    const out = results[output.name];
    const [batch, steps, vocab] = out.dims;
    if (out.dims.length !== 3 || batch !== 1) {
      throw new ManifestError(`output "${output.name}" has shape [${out.dims.join(', ')}], expected [1, T, ${output.tokens.length}]`);
    }
    if (vocab !== output.tokens.length) {
      throw new ManifestError(`output "${output.name}" has ${vocab} classes but the manifest lists ${output.tokens.length} tokens`);
    }
    return { data: out.data as Float32Array, steps, vocab };
  }

  /** One second of grey frames through the graph: loads kernels now, and checks the output shape
   *  against the manifest before the worker reports ready. */
  private async warmUp(): Promise<void> {
    const { input, frame_rate } = this.pkg.manifest;
    const frames = Math.max(1, Math.round(frame_rate));
    await this.run(new Float32Array(frames * input.width * input.height), frames);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
