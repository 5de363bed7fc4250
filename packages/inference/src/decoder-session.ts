import * as ort from 'onnxruntime-node';
import { logSoftmaxRows } from './ctc';
import { createSessionWithFallback, type ProviderOptions } from './execution-providers';
import { ManifestError, type ModelManifest } from './manifest';

type DecoderSpec = Extract<NonNullable<ModelManifest['decoder']>, { kind: 'prefix' }>;

/** The encoder's features for one utterance: (steps × dim), row-major. */
export interface EncoderFeatures {
  data: Float32Array;
  steps: number;
  dim: number;
}

/**
 * One utterance's beam search through the decoder: each call scores the next token after every
 * running hypothesis (a prefix starting with sos; all of one length), given the row of the
 * previous call each extends (`parents`; [0] on the first call). Returns [B, vocab]
 * log-probabilities, row-major. A cached decoder keeps state between calls, so calls must follow
 * the search's steps in order.
 */
export interface DecoderBeam {
  step(prefixes: readonly (readonly number[])[], parents: readonly number[]): Promise<Float32Array>;
}

/** A package's attention decoder, loaded once per process; `begin` starts one utterance's search. */
export interface AttentionDecoder {
  begin(memory: EncoderFeatures): Promise<DecoderBeam>;
  release(): Promise<void>;
}

/**
 * A `prefix` decoder, one step at a time: prefixes (int64 [B, L]) and the encoder features as
 * memory in, the next token's log-probabilities ([B, vocab]) out. All the hypotheses of a beam go
 * in one call.
 */
export class DecoderSession implements AttentionDecoder {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly spec: DecoderSpec,
    private readonly vocab: number,
  ) {}

  /** Loads `file` with the providers the encoder ended up on, and checks its names against the manifest. */
  static async load(file: string, manifest: ModelManifest, providers: readonly string[], options: ProviderOptions = {}): Promise<DecoderSession> {
    const spec = manifest.decoder;
    if (!spec) throw new ManifestError('the manifest has no decoder');
    if (spec.kind !== 'prefix') throw new ManifestError(`the manifest's decoder is ${spec.kind}, not prefix`);
    let session: ort.InferenceSession;
    try {
      ({ session } = await createSessionWithFallback(file, providers, options));
    } catch (err) {
      throw new ManifestError(`ONNX Runtime could not load the decoder ${spec.model_file}: ${(err as Error).message}`);
    }
    for (const name of [spec.inputs.tokens, spec.inputs.memory]) {
      if (!session.inputNames.includes(name)) {
        throw new ManifestError(`the decoder graph has no input "${name}" (it has ${session.inputNames.join(', ')})`);
      }
    }
    if (!session.outputNames.includes(spec.output)) {
      throw new ManifestError(`the decoder graph has no output "${spec.output}" (it has ${session.outputNames.join(', ')})`);
    }
    return new DecoderSession(session, spec, manifest.output.tokens.length);
  }

  begin(memory: EncoderFeatures): Promise<DecoderBeam> {
    return Promise.resolve({ step: (prefixes) => this.step(prefixes, memory) });
  }

  /**
   * Scores the next token after each prefix (all of one length). `memory` is the utterance's
   * features: passed once when the graph broadcasts it (`shared`), repeated per prefix otherwise.
   */
  async step(prefixes: readonly (readonly number[])[], memory: EncoderFeatures): Promise<Float32Array> {
    const batch = prefixes.length;
    const length = prefixes[0]?.length ?? 0;
    if (batch === 0 || length === 0) throw new Error('the decoder needs at least one non-empty prefix');
    const ys = new BigInt64Array(batch * length);
    prefixes.forEach((prefix, b) => {
      if (prefix.length !== length) throw new Error('decoder prefixes in one batch must have one length');
      prefix.forEach((token, i) => (ys[b * length + i] = BigInt(token)));
    });
    const results = await this.session.run({
      [this.spec.inputs.tokens]: new ort.Tensor('int64', ys, [batch, length]),
      [this.spec.inputs.memory]: this.memoryTensor(memory, this.spec.memory_batch === 'shared' ? 1 : batch),
    });
    const out = results[this.spec.output];
    if (out.dims.length !== 2 || out.dims[0] !== batch || out.dims[1] !== this.vocab) {
      throw new ManifestError(`decoder output "${this.spec.output}" has shape [${out.dims.join(', ')}], expected [${batch}, ${this.vocab}]`);
    }
    const data = Float32Array.from(out.data as Float32Array);
    if (!this.spec.log_probs) logSoftmaxRows({ data, steps: batch, vocab: this.vocab });
    return data;
  }

  /** The last memory tensor built per utterance: a beam keeps its size over most steps, so it is reused. */
  private readonly memoryTensors = new WeakMap<EncoderFeatures, ort.Tensor>();

  private memoryTensor(memory: EncoderFeatures, copies: number): ort.Tensor {
    const cached = this.memoryTensors.get(memory);
    if (cached && cached.dims[0] === copies) return cached;
    const size = memory.steps * memory.dim;
    if (memory.data.length !== size) throw new Error(`memory has ${memory.data.length} values, expected ${memory.steps} × ${memory.dim}`);
    const data = new Float32Array(copies * size);
    for (let b = 0; b < copies; b++) data.set(memory.data, b * size);
    const tensor = new ort.Tensor('float32', data, [copies, memory.steps, memory.dim]);
    this.memoryTensors.set(memory, tensor);
    return tensor;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
