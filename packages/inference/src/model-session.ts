import * as ort from 'onnxruntime-node';
import { createSessionWithFallback, NoUsableProviderError, type ProviderFallback } from './execution-providers';
import { loadModelPackage, ManifestError, type ModelPackage } from './manifest';
import { CachedDecoderSession } from './cached-decoder';
import { DecoderSession, type AttentionDecoder, type EncoderFeatures } from './decoder-session';
import type { BatchItem, Scores } from './dynamic-batcher';

export interface SessionOptions {
  /** in order of preference, e.g. ['cuda', 'cpu'] */
  executionProviders?: string[];
  intraOpThreads?: number;
  /** ONNX Runtime inter-op threads (parallel execution of independent graph branches) */
  interOpThreads?: number;
  /** GPU index for cuda/tensorrt/dml */
  deviceId?: number;
}

/**
 * One ONNX Runtime session per process, created at start and reused for every job. Creating one
 * per job would reload weights and re-plan the graph each time.
 */
export class ModelSession {
  private constructor(
    readonly pkg: ModelPackage,
    private readonly session: ort.InferenceSession,
    /** what the session runs with; its first entry runs the graph */
    readonly executionProviders: string[],
    /** what EXECUTION_PROVIDERS asked for */
    readonly requestedProviders: string[],
    /** providers given up on at load, with ONNX Runtime's reason (logged, in /readyz and metrics) */
    readonly providerFallbacks: ProviderFallback[],
    /** the package's attention decoder, when its manifest has one (joint CTC/attention decoding) */
    readonly decoder: AttentionDecoder | undefined,
  ) {}

  private loadedMs = 0;

  /** from the start of `load` to a warmed-up session */
  get loadMs(): number {
    return this.loadedMs;
  }

  static async load(dir: string, options: SessionOptions = {}): Promise<ModelSession> {
    const started = performance.now();
    const pkg = await loadModelPackage(dir);
    const providers = options.executionProviders?.length ? options.executionProviders : ['cpu'];
    // a provider that cannot be loaded here (no CUDA libraries) is dropped for the next one
    const { session, requested, active, fallbacks } = await createSessionWithFallback(pkg.modelPath, providers, options).catch((err: unknown) => {
      if (err instanceof NoUsableProviderError) throw err;
      throw new ManifestError(`model package ${dir}: ONNX Runtime could not load ${pkg.manifest.model_file}: ${(err as Error).message}`);
    });
    const { input, output } = pkg.manifest;
    if (!session.inputNames.includes(input.name)) {
      throw new ManifestError(`model package ${dir}: the graph has no input "${input.name}" (it has ${session.inputNames.join(', ')})`);
    }
    for (const name of [output.name, output.features]) {
      if (name !== undefined && !session.outputNames.includes(name)) {
        throw new ManifestError(`model package ${dir}: the graph has no output "${name}" (it has ${session.outputNames.join(', ')})`);
      }
    }
    const model = new ModelSession(pkg, session, active, requested, fallbacks, await loadDecoder(pkg, active, options));
    await model.warmUp();
    model.loadedMs = performance.now() - started;
    return model;
  }

  /** Runs the model on `frames` normalised frames; returns (steps × vocab) scores. */
  async run(input: Float32Array, frames: number): Promise<Scores & { features?: EncoderFeatures }> {
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
    const features = output.features ? featuresOf(results[output.features], output.features, steps) : undefined;
    return { data: out.data as Float32Array, steps, vocab, ...(features ? { features } : {}) };
  }

  /**
   * Runs several clips as one batch (N, 1, T, H, W), T the longest clip: shorter clips are padded at
   * the end with zeros (the normalised mean grey) and the output steps of the padding are dropped, so
   * each clip gets `steps` rows as at batch size 1. Steps per frame come from the output's own ratio
   * (models that downsample in time give fewer steps than frames). Padding is exact only for models
   * whose outputs do not look at later frames; callers batch only what `probe` showed to be exact.
   */
  async runBatch(items: BatchItem[]): Promise<Scores[]> {
    const { input: spec, output } = this.pkg.manifest;
    const frameSize = spec.width * spec.height;
    const longest = Math.max(...items.map((item) => item.frames));
    const batch = new Float32Array(items.length * longest * frameSize);
    items.forEach((item, i) => batch.set(item.input.subarray(0, item.frames * frameSize), i * longest * frameSize));
    const tensor = new ort.Tensor('float32', batch, [items.length, 1, longest, spec.height, spec.width]);
    const results = await this.session.run({ [spec.name]: tensor });
    const out = results[output.name];
    const [n, steps, vocab] = out.dims;
    if (out.dims.length !== 3 || n !== items.length || vocab !== output.tokens.length) {
      throw new ManifestError(`output "${output.name}" has shape [${out.dims.join(', ')}], expected [${items.length}, T, ${output.tokens.length}]`);
    }
    const data = out.data as Float32Array;
    return items.map((item, i) => {
      const own = steps === longest ? item.frames : Math.min(steps, Math.ceil((item.frames * steps) / longest - 1e-9));
      return { data: data.slice(i * steps * vocab, (i * steps + own) * vocab), steps: own, vocab };
    });
  }

  /** One second of grey frames through the graph: loads kernels now, and checks the output shape
   *  against the manifest before the worker reports ready. */
  private async warmUp(): Promise<void> {
    const { input, frame_rate } = this.pkg.manifest;
    const frames = Math.max(1, Math.round(frame_rate));
    const out = await this.run(new Float32Array(frames * input.width * input.height), frames);
    const { decoder } = this.pkg.manifest;
    if (this.decoder && decoder && out.features) await (await this.decoder.begin(out.features)).step([[decoder.sos]], [0]);
  }

  async release(): Promise<void> {
    await this.session.release();
    await this.decoder?.release();
  }
}

/** The encoder's features output, checked against its CTC output's steps (issue 5). */
function featuresOf(tensor: ort.Tensor | undefined, name: string, steps: number): EncoderFeatures {
  if (!tensor || tensor.dims.length !== 3 || tensor.dims[0] !== 1 || tensor.dims[1] !== steps) {
    throw new ManifestError(`output "${name}" has shape [${tensor?.dims.join(', ') ?? ''}], expected [1, ${steps}, D]`);
  }
  return { data: tensor.data as Float32Array, steps, dim: tensor.dims[2] };
}

/** The decoder of a package with one, loaded on the providers the encoder ended up on. */
async function loadDecoder(pkg: ModelPackage, providers: string[], options: SessionOptions): Promise<AttentionDecoder | undefined> {
  if (!pkg.decoderPath) return undefined;
  try {
    if (pkg.decoderMemoryPath) return await CachedDecoderSession.load(pkg.decoderPath, pkg.decoderMemoryPath, pkg.manifest, providers, options);
    return await DecoderSession.load(pkg.decoderPath, pkg.manifest, providers, options);
  } catch (err) {
    throw err instanceof ManifestError ? new ManifestError(`model package ${pkg.dir}: ${err.message}`) : err;
  }
}
