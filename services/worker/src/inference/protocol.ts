import type { TranscriptResult } from '@talkie/contracts';
import type { BatchingProbe, DecodingOptions, ModelManifest, ProviderFallback, StageTimings } from '@talkie/inference';

/** What the inference thread is started with (workerData). */
export interface InferenceThreadOptions {
  modelDir: string;
  executionProviders: string[];
  deviceId?: number;
  intraOpThreads?: number;
  interOpThreads?: number;
  maxBatch: number;
  batchWindowMs: number;
  /** CTC_DECODER / BEAM_WIDTH / CTC_WEIGHT overrides of the manifest's decoding */
  decoding: { method?: DecodingOptions['method']; beamWidth?: number; ctcWeight?: number };
}

/** The loaded model, as the thread reports it once ready. */
export interface LoadedModel {
  manifest: ModelManifest;
  providers: { requested: string[]; active: string[]; fallbacks: ProviderFallback[] };
  loadMs: number;
  /** the manifest's decoding with the overrides applied, checked against the package */
  decoding: DecodingOptions;
  batching: BatchingProbe & { maxBatch: number; windowMs: number };
}

/** Main thread → inference thread. */
export type ToThread =
  | {
      kind: 'transcribe';
      id: number;
      /** grey frames, transferred (not copied) */
      pixels: Uint8Array;
      count: number;
      width: number;
      height: number;
      fps: number;
      decoding: DecodingOptions;
    }
  | { kind: 'close' };

/** Inference thread → main thread. */
export type FromThread =
  | { kind: 'ready'; model: LoadedModel }
  | { kind: 'fatal'; name: string; message: string }
  | { kind: 'result'; id: number; result: TranscriptResult; timings: StageTimings }
  | { kind: 'error'; id: number; message: string }
  /** one inference call of `size` clips was made (for the batch-size metric) */
  | { kind: 'batch'; size: number }
  | { kind: 'closed' };

export function assertNever(value: never): never {
  throw new Error(`unexpected message ${JSON.stringify(value)}`);
}
