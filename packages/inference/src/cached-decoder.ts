import * as ort from 'onnxruntime-node';
import { logSoftmaxRows } from './ctc';
import type { AttentionDecoder, DecoderBeam, EncoderFeatures } from './decoder-session';
import { createSessionWithFallback, type ProviderOptions } from './execution-providers';
import { ManifestError, type ModelManifest } from './manifest';

type CachedSpec = Extract<NonNullable<ModelManifest['decoder']>, { kind: 'kv_cache' }>;

/** The tensor names of a `kv_cache` decoder (manifest.ts documents the format). */
export const kvCacheNames = (layer: number) => ({
  histK: `hist_k_${layer}`,
  histV: `hist_v_${layer}`,
  crossK: `cross_k_${layer}`,
  crossV: `cross_v_${layer}`,
  newK: `new_k_${layer}`,
  newV: `new_v_${layer}`,
});

/**
 * A `kv_cache` decoder: the memory's cross-attention keys and values once per utterance, then one
 * call per step for the whole beam, each reading only its hypotheses' last tokens and the rows of
 * their prefixes in the key/value history. The ~180× gap to a whole-prefix decoder at Auto-AVSR's
 * size (issue 16) was the prefix re-read every step and the memory projected per hypothesis.
 */
export class CachedDecoderSession implements AttentionDecoder {
  private constructor(
    private readonly step: ort.InferenceSession,
    private readonly memory: ort.InferenceSession,
    private readonly layers: number,
    private readonly spec: CachedSpec,
    private readonly vocab: number,
  ) {}

  static async load(stepFile: string, memoryFile: string, manifest: ModelManifest, providers: readonly string[], options: ProviderOptions = {}): Promise<CachedDecoderSession> {
    const spec = manifest.decoder;
    if (spec?.kind !== 'kv_cache') throw new ManifestError('the manifest has no kv_cache decoder');
    const open = async (file: string, label: string) => {
      try {
        return (await createSessionWithFallback(file, providers, options)).session;
      } catch (err) {
        throw new ManifestError(`ONNX Runtime could not load the decoder's ${label} ${file.split(/[\\/]/).pop()}: ${(err as Error).message}`);
      }
    };
    const step = await open(stepFile, 'step graph');
    const memory = await open(memoryFile, 'memory graph');
    const layers = step.inputNames.filter((n) => /^hist_k_\d+$/.test(n)).length;
    const want = (session: ort.InferenceSession, kind: 'input' | 'output', names: string[], label: string) => {
      const have = kind === 'input' ? session.inputNames : session.outputNames;
      const absent = names.filter((n) => !have.includes(n));
      if (absent.length) throw new ManifestError(`the decoder's ${label} has no ${kind} ${absent.join(', ')} (it has ${have.join(', ')})`);
    };
    if (layers === 0) throw new ManifestError(`the decoder's step graph has no hist_k_0 input (it has ${step.inputNames.join(', ')}): not a kv_cache decoder`);
    const per = Array.from({ length: layers }, (_, i) => kvCacheNames(i));
    want(step, 'input', ['token', 'index', ...per.flatMap((n) => [n.histK, n.histV, n.crossK, n.crossV])], 'step graph');
    want(step, 'output', ['logp', ...per.flatMap((n) => [n.newK, n.newV])], 'step graph');
    want(memory, 'input', ['memory'], 'memory graph');
    want(memory, 'output', per.flatMap((n) => [n.crossK, n.crossV]), 'memory graph');
    return new CachedDecoderSession(step, memory, layers, spec, manifest.output.tokens.length);
  }

  async begin(features: EncoderFeatures): Promise<DecoderBeam> {
    if (features.data.length !== features.steps * features.dim) throw new Error(`memory has ${features.data.length} values, expected ${features.steps} × ${features.dim}`);
    const cross = await this.memory.run({ memory: new ort.Tensor('float32', features.data, [1, features.steps, features.dim]) });
    const first = cross[kvCacheNames(0).crossK];
    if (first.dims.length !== 4 || first.dims[0] !== 1 || first.dims[2] !== features.steps) {
      throw new ManifestError(`the decoder's memory graph gave cross_k_0 of shape [${first.dims.join(', ')}], expected [1, heads, ${features.steps}, d_k]`);
    }
    const [, heads, , headDim] = first.dims;
    return new HistoryBeam(this.step, cross, this.layers, heads, headDim, this.vocab, this.spec.log_probs);
  }

  async release(): Promise<void> {
    await this.step.release();
    await this.memory.release();
  }
}

/**
 * One utterance's key/value history. Every row a step returns is appended once and never moved:
 * a hypothesis is the list of its prefix's rows, a child shares its parent's, and a pruned one
 * just stops being named. Each array is [heads, capacity, d_k] so that a step's rows, which the
 * graph returns heads-first, append with one copy per head; the graph is handed the whole
 * capacity (it gathers only the rows named in `index`), so growing is the only other copy.
 */
class HistoryBeam implements DecoderBeam {
  /** hist_k_0, hist_v_0, hist_k_1, …: [heads, capacity, d_k] */
  private history: Float32Array[];
  private capacity = 0;
  private size = 0;
  /** the rows of each hypothesis of the last call, in its order */
  private rows: number[][] = [[]];
  /** what the last call added, still to append: [heads, B, d_k] per history array */
  private pending: Float32Array[] | undefined;
  private readonly crossFeeds: Record<string, ort.Tensor> = {};

  constructor(
    private readonly session: ort.InferenceSession,
    cross: ort.InferenceSession.OnnxValueMapType,
    private readonly layers: number,
    private readonly heads: number,
    private readonly headDim: number,
    private readonly vocab: number,
    private readonly logProbs: boolean,
  ) {
    for (let i = 0; i < layers; i++) {
      const n = kvCacheNames(i);
      this.crossFeeds[n.crossK] = cross[n.crossK];
      this.crossFeeds[n.crossV] = cross[n.crossV];
    }
    this.history = Array.from({ length: 2 * layers }, () => new Float32Array(0));
  }

  async step(prefixes: readonly (readonly number[])[], parents: readonly number[]): Promise<Float32Array> {
    const beam = prefixes.length;
    if (beam === 0 || parents.length !== beam) throw new Error('the decoder needs one parent row per hypothesis');
    this.appendPending(parents);
    const length = this.rows[0].length;
    const index = new BigInt64Array(beam * length);
    const token = new BigInt64Array(beam);
    this.rows.forEach((rows, b) => {
      if (rows.length !== length) throw new Error('decoder prefixes in one batch must have one length');
      rows.forEach((row, j) => (index[b * length + j] = BigInt(row)));
      const prefix = prefixes[b];
      if (prefix.length !== length + 1) throw new Error(`hypothesis ${b} has ${prefix.length} tokens where the decoder's history holds ${length} steps`);
      token[b] = BigInt(prefix[length]);
    });
    const feeds: Record<string, ort.Tensor> = {
      ...this.crossFeeds,
      token: new ort.Tensor('int64', token, [beam]),
      index: new ort.Tensor('int64', index, [beam, length]),
    };
    const dims = [this.heads, this.capacity, this.headDim];
    for (let i = 0; i < this.layers; i++) {
      const n = kvCacheNames(i);
      feeds[n.histK] = new ort.Tensor('float32', this.history[2 * i], dims);
      feeds[n.histV] = new ort.Tensor('float32', this.history[2 * i + 1], dims);
    }
    const out = await this.session.run(feeds);
    const logp = out.logp;
    if (logp.dims.length !== 2 || logp.dims[0] !== beam || logp.dims[1] !== this.vocab) {
      throw new ManifestError(`decoder output "logp" has shape [${logp.dims.join(', ')}], expected [${beam}, ${this.vocab}]`);
    }
    this.pending = [];
    for (let i = 0; i < this.layers; i++) {
      const n = kvCacheNames(i);
      this.pending.push(out[n.newK].data as Float32Array, out[n.newV].data as Float32Array);
    }
    const data = logp.data as Float32Array;
    if (!this.logProbs) logSoftmaxRows({ data, steps: beam, vocab: this.vocab });
    return data;
  }

  /** The last call's rows join the history; each hypothesis of this call extends its parent's. */
  private appendPending(parents: readonly number[]): void {
    const pending = this.pending;
    if (!pending) {
      if (parents.some((p) => p !== 0)) throw new Error('the first decoder step has one parent, row 0');
      return;
    }
    const added = this.rows.length;
    const block = this.headDim * added;
    if (pending[0].length !== this.heads * block) throw new ManifestError(`the decoder returned ${pending[0].length} values for ${added} new rows of ${this.heads} × ${this.headDim}`);
    this.reserve(this.size + added);
    pending.forEach((rows, a) => {
      const target = this.history[a];
      for (let h = 0; h < this.heads; h++) target.set(rows.subarray(h * block, (h + 1) * block), (h * this.capacity + this.size) * this.headDim);
    });
    const previous = this.rows;
    this.rows = parents.map((p) => {
      if (!(p >= 0 && p < added)) throw new Error(`parent row ${p} is not one of the last step's ${added}`);
      return [...previous[p], this.size + p];
    });
    this.size += added;
    this.pending = undefined;
  }

  private reserve(rows: number): void {
    if (rows <= this.capacity) return;
    const capacity = Math.max(rows, 2 * this.capacity, 64);
    const stride = this.headDim;
    this.history = this.history.map((old) => {
      const grown = new Float32Array(this.heads * capacity * stride);
      for (let h = 0; h < this.heads; h++) grown.set(old.subarray(h * this.capacity * stride, (h * this.capacity + this.size) * stride), h * capacity * stride);
      return grown;
    });
    this.capacity = capacity;
  }
}
