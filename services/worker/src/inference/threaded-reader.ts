import { EventEmitter } from 'node:events';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { TranscriptResult } from '@talkie/contracts';
import type { DecodingOptions, ModelManifest, StageTimings } from '@talkie/inference';
import type { DecodedFrames } from '@talkie/media';
import { assertNever, type FromThread, type InferenceThreadOptions, type LoadedModel, type ToThread } from './protocol';

/** The inference thread failed to start: the message says why (e.g. no usable execution provider). */
export class InferenceStartError extends Error {
  constructor(
    override readonly name: string,
    message: string,
  ) {
    super(message);
  }
}

interface Waiting {
  resolve: (value: { result: TranscriptResult; timings: StageTimings }) => void;
  reject: (err: Error) => void;
}

/**
 * The main thread's handle on the inference thread (inference-thread.ts): the same `manifest` and
 * `transcribe` as a LipReader, with the work done off the event loop. Emits `batch` (size) for each
 * inference call and `exit` (code) if the thread ends unasked.
 */
export class ThreadedLipReader extends EventEmitter {
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private closing = false;

  private constructor(
    private readonly thread: Worker,
    readonly model: LoadedModel,
  ) {
    super();
    thread.on('message', (message: FromThread) => this.receive(message));
    thread.on('exit', (code) => {
      const error = new Error(`the inference thread exited (code ${code})`);
      for (const waiting of this.waiting.values()) waiting.reject(error);
      this.waiting.clear();
      if (!this.closing) this.emit('exit', code);
    });
  }

  /** Starts the thread and waits until the model is loaded, warmed up and probed for batching. */
  static start(options: InferenceThreadOptions): Promise<ThreadedLipReader> {
    const thread = new Worker(path.join(__dirname, 'inference-thread.js'), { workerData: options });
    return new Promise((resolve, reject) => {
      const onMessage = (message: FromThread) => {
        if (message.kind === 'ready') {
          cleanup();
          resolve(new ThreadedLipReader(thread, message.model));
        } else if (message.kind === 'fatal') {
          cleanup();
          void thread.terminate();
          reject(new InferenceStartError(message.name, message.message));
        }
      };
      const onError = (err: Error) => {
        cleanup();
        reject(err);
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new Error(`the inference thread exited during start (code ${code})`));
      };
      const cleanup = () => {
        thread.off('message', onMessage);
        thread.off('error', onError);
        thread.off('exit', onExit);
      };
      thread.on('message', onMessage);
      thread.on('error', onError);
      thread.on('exit', onExit);
    });
  }

  get manifest(): ModelManifest {
    return this.model.manifest;
  }

  /** the decoding every job uses: the manifest's, with CTC_DECODER / BEAM_WIDTH applied */
  decodingDefaults(): DecodingOptions {
    return this.model.decoding;
  }

  /**
   * Transcribes decoded frames in the inference thread. The pixels move to the thread without a
   * copy when they own their whole buffer (they are unusable here afterwards); otherwise they are copied.
   */
  async transcribe(video: DecodedFrames, decoding: DecodingOptions = this.decodingDefaults(), timings: StageTimings = {}): Promise<TranscriptResult> {
    const id = this.nextId++;
    const owned = video.pixels.byteOffset === 0 && video.pixels.byteLength === video.pixels.buffer.byteLength && video.pixels.buffer instanceof ArrayBuffer;
    const pixels = owned ? video.pixels : video.pixels.slice();
    const message: ToThread = { kind: 'transcribe', id, pixels, count: video.count, width: video.width, height: video.height, fps: video.fps, decoding };
    const done = new Promise<{ result: TranscriptResult; timings: StageTimings }>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    this.thread.postMessage(message, [pixels.buffer as ArrayBuffer]);
    const { result, timings: spent } = await done;
    Object.assign(timings, spent);
    return result;
  }

  private receive(message: FromThread): void {
    switch (message.kind) {
      case 'result':
        this.waiting.get(message.id)?.resolve({ result: message.result, timings: message.timings });
        this.waiting.delete(message.id);
        return;
      case 'error':
        this.waiting.get(message.id)?.reject(new Error(message.message));
        this.waiting.delete(message.id);
        return;
      case 'batch':
        this.emit('batch', message.size);
        return;
      case 'ready':
      case 'fatal':
      case 'closed':
        return;
      default:
        assertNever(message);
    }
  }

  /** Releases the session and ends the thread (after calls in flight have been answered). */
  async close(): Promise<void> {
    this.closing = true;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => void this.thread.terminate().then(() => resolve()), 10_000);
      this.thread.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.thread.postMessage({ kind: 'close' } satisfies ToThread);
    });
  }
}
