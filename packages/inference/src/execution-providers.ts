import * as ort from 'onnxruntime-node';

/**
 * ONNX Runtime execution providers Talkie knows how to ask for. onnxruntime-node on Linux ships
 * `cpu` (and `webgpu`) in its own binary; `cuda` and `tensorrt` need the CUDA libraries its install
 * script downloads on GPU images. Anything else is a typo, refused at start.
 */
export const KNOWN_EXECUTION_PROVIDERS = ['cpu', 'cuda', 'tensorrt', 'webgpu', 'dml', 'coreml'] as const;
export type ExecutionProviderName = (typeof KNOWN_EXECUTION_PROVIDERS)[number];

/** Providers that take a device id (a GPU index). */
const DEVICE_PROVIDERS: ReadonlySet<string> = new Set(['cuda', 'tensorrt', 'dml']);

export interface ProviderFallback {
  provider: string;
  /** ONNX Runtime's reason, first line only */
  reason: string;
}

export interface ProviderSelection {
  session: ort.InferenceSession;
  /** what was asked for, in order */
  requested: string[];
  /** the list the session was created with: its first entry is the provider that runs the graph */
  active: string[];
  /** providers given up on, in order, with ONNX Runtime's reason */
  fallbacks: ProviderFallback[];
}

export class NoUsableProviderError extends Error {
  override name = 'NoUsableProviderError';
  constructor(
    readonly requested: string[],
    readonly fallbacks: ProviderFallback[],
  ) {
    super(
      `none of the execution providers [${requested.join(', ')}] could be used: ` +
        fallbacks.map((f) => `${f.provider}: ${f.reason}`).join('; ') +
        (requested.includes('cpu') ? '' : '. Add cpu at the end of EXECUTION_PROVIDERS to allow a CPU fallback'),
    );
  }
}

/**
 * Parses `cuda,cpu`-style lists: lower-cased, trimmed, no blanks, no repeats, every name known.
 * Throws with the list of problems.
 */
export function parseExecutionProviders(list: string): ExecutionProviderName[] {
  const names = list
    .split(',')
    .map((p) => p.trim().toLowerCase())
    .filter(Boolean);
  if (!names.length) throw new Error('EXECUTION_PROVIDERS is empty: name at least one provider, e.g. cpu');
  const unknown = names.filter((n) => !(KNOWN_EXECUTION_PROVIDERS as readonly string[]).includes(n));
  if (unknown.length) {
    throw new Error(`unknown execution provider(s) ${unknown.join(', ')}: use ${KNOWN_EXECUTION_PROVIDERS.join(', ')}`);
  }
  const repeated = names.filter((n, i) => names.indexOf(n) !== i);
  if (repeated.length) throw new Error(`execution provider(s) listed twice: ${[...new Set(repeated)].join(', ')}`);
  return names as ExecutionProviderName[];
}

export interface ProviderOptions {
  deviceId?: number;
  intraOpThreads?: number;
  interOpThreads?: number;
}

const providerConfig = (name: string, deviceId: number | undefined): ort.InferenceSession.ExecutionProviderConfig =>
  deviceId !== undefined && DEVICE_PROVIDERS.has(name) ? ({ name, deviceId } as ort.InferenceSession.ExecutionProviderConfig) : name;

/**
 * Creates the session with the first usable tail of `requested`. ONNX Runtime refuses a whole
 * session when one listed provider cannot be loaded (no CUDA libraries, no GPU), so each failure
 * drops that provider and tries the rest: `cuda,cpu` on a CPU-only machine ends as `cpu`, with the
 * reason recorded for logs, readiness and metrics. A failure that is not the provider's (a broken
 * model file) is the same for every provider and ends with the last one's error.
 */
export async function createSessionWithFallback(
  modelPath: string,
  requested: readonly string[],
  options: ProviderOptions = {},
): Promise<ProviderSelection> {
  const fallbacks: ProviderFallback[] = [];
  for (let i = 0; i < requested.length; i++) {
    const active = requested.slice(i);
    try {
      const session = await ort.InferenceSession.create(modelPath, {
        executionProviders: active.map((p) => providerConfig(p, options.deviceId)),
        graphOptimizationLevel: 'all',
        ...(options.intraOpThreads ? { intraOpNumThreads: options.intraOpThreads } : {}),
        ...(options.interOpThreads ? { interOpNumThreads: options.interOpThreads, executionMode: 'parallel' as const } : {}),
      });
      return { session, requested: [...requested], active, fallbacks };
    } catch (err) {
      const message = ((err as Error).message ?? String(err)).split('\n')[0];
      // Only a provider that could not be set up is skipped; any other failure (a broken model
      // file) would be the same with every provider, so the caller sees it as it is.
      if (!isProviderFailure(message, requested[i])) throw err;
      fallbacks.push({ provider: requested[i], reason: message });
    }
  }
  throw new NoUsableProviderError([...requested], fallbacks);
}

/** ONNX Runtime's messages for a provider it cannot append: `OrtSessionOptionsAppendExecutionProvider_Cuda: …`, `[bogus] backend not found`. */
function isProviderFailure(message: string, provider: string): boolean {
  return /AppendExecutionProvider|backend not found|execution provider|shared library|no CUDA|GPU/i.test(message) || message.includes(`[${provider}]`);
}
