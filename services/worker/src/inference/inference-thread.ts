import { parentPort, workerData } from 'node:worker_threads';
import { DynamicBatcher, LipReader, ModelSession, probeBatching } from '@talkie/inference';
import { assertNever, type FromThread, type InferenceThreadOptions, type ToThread } from './protocol';

/**
 * The inference thread: owns the ONNX session, the dynamic batcher and the CTC decoding, all of
 * which keep a CPU busy for as long as they run. onnxruntime-node's `run` is synchronous on the
 * thread that calls it, and beam search is plain JavaScript: on the main thread either would stall
 * the event loop, and with it BullMQ's lock renewal, so a long job would be declared stalled and
 * run a second time by another worker.
 */
const port = parentPort!;
const options = workerData as InferenceThreadOptions;
const send = (message: FromThread, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

async function start(): Promise<void> {
  const session = await ModelSession.load(options.modelDir, {
    executionProviders: options.executionProviders,
    deviceId: options.deviceId,
    intraOpThreads: options.intraOpThreads,
    interOpThreads: options.interOpThreads,
  });
  // Batching splits the CTC scores only: packages whose decoding also needs the encoder's features
  // (an attention decoder) run one clip per call.
  const splittable = !session.pkg.manifest.output.features;
  const probe = options.maxBatch > 1 && splittable ? await probeBatching(session) : { mode: 'off' as const, maxDiff: 0 };
  const batcher = new DynamicBatcher({
    maxBatch: probe.mode === 'off' ? 1 : options.maxBatch,
    windowMs: options.batchWindowMs,
    padding: probe.mode === 'pad' ? 'pad' : 'equal',
    runBatch: (items) => session.runBatch(items),
    runOne: (input, frames) => session.run(input, frames),
    onBatch: (size) => send({ kind: 'batch', size }),
  });
  // LipReader sees a session whose `run` goes through the batcher; everything else is the session's.
  const batched = Object.create(session, { run: { value: (input: Float32Array, frames: number) => batcher.run(input, frames) } }) as ModelSession;
  const reader = new LipReader(batched);
  const decoding = { ...reader.decodingDefaults(), ...definedOnly(options.decoding) };
  reader.checkDecoding(decoding);

  port.on('message', (message: ToThread) => {
    switch (message.kind) {
      case 'transcribe': {
        const { id, pixels, count, width, height, fps, decoding } = message;
        const timings = {};
        reader.transcribe({ pixels, count, width, height, fps }, decoding, timings).then(
          (result) => send({ kind: 'result', id, result, timings }),
          (err: Error) => send({ kind: 'error', id, message: err.message }),
        );
        return;
      }
      case 'close':
        batcher.flush();
        session.release().finally(() => {
          send({ kind: 'closed' });
          port.close();
        });
        return;
      default:
        assertNever(message);
    }
  });
  send({
    kind: 'ready',
    model: {
      manifest: session.pkg.manifest,
      providers: { requested: session.requestedProviders, active: session.executionProviders, fallbacks: session.providerFallbacks },
      loadMs: session.loadMs,
      decoding,
      batching: { ...probe, maxBatch: probe.mode === 'off' ? 1 : options.maxBatch, windowMs: options.batchWindowMs },
    },
  });
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

start().catch((err: Error) => send({ kind: 'fatal', name: err.name, message: err.message }));
