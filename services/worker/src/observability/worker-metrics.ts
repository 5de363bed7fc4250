import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** The worker's Prometheus metrics (base units, `talkie_` prefix). */
export class WorkerMetrics {
  readonly stageDuration: Histogram<'stage'>;
  readonly frames: Counter;
  readonly throughput: Histogram;
  readonly batchSize: Histogram;
  readonly modelLoad: Gauge;
  readonly provider: Gauge<'provider'>;
  readonly executionProvider: Gauge<'requested' | 'active'>;
  readonly providerFallbacks: Gauge<'provider'>;
  readonly chunks: Counter<'outcome'>;
  readonly jobs: Counter<'outcome'>;
  readonly failures: Counter<'code'>;
  readonly queueWait: Histogram<'queue'>;
  readonly endToEnd: Histogram<'outcome'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.stageDuration = new Histogram({ name: 'talkie_worker_stage_duration_seconds', help: 'Time per pipeline stage: probe, decode, preprocess, inference, ctc', labelNames: ['stage'], buckets: SECONDS, registers });
    this.frames = new Counter({ name: 'talkie_worker_frames_total', help: 'Frames fed to the model (rate() gives frames per second)', registers });
    this.throughput = new Histogram({ name: 'talkie_worker_job_frames_per_second', help: 'Frames per second over a whole job (decode to transcript)', buckets: [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000], registers });
    this.batchSize = new Histogram({ name: 'talkie_worker_batch_size', help: 'Clips per inference call', buckets: [1, 2, 4, 8, 16, 32], registers });
    this.modelLoad = new Gauge({ name: 'talkie_worker_model_load_seconds', help: 'Time to load and warm up the model at start', registers });
    this.provider = new Gauge({ name: 'talkie_worker_execution_provider_info', help: 'Execution providers the ONNX session was created with (1)', labelNames: ['provider'], registers });
    this.executionProvider = new Gauge({ name: 'talkie_worker_execution_provider', help: 'The execution providers asked for (EXECUTION_PROVIDERS) and the one that runs the model (1)', labelNames: ['requested', 'active'], registers });
    this.providerFallbacks = new Gauge({ name: 'talkie_worker_execution_provider_fallback', help: 'Execution providers that could not be loaded at start and were skipped (1)', labelNames: ['provider'], registers });
    this.chunks = new Counter({ name: 'talkie_worker_chunks_total', help: 'Windows of long videos transcribed by this worker, by outcome', labelNames: ['outcome'], registers });
    this.jobs = new Counter({ name: 'talkie_worker_jobs_total', help: 'Jobs finished by this worker, by outcome', labelNames: ['outcome'], registers });
    this.failures = new Counter({ name: 'talkie_worker_job_failures_total', help: 'Failed job attempts, by error code', labelNames: ['code'], registers });
    this.queueWait = new Histogram({ name: 'talkie_queue_wait_seconds', help: 'Time from enqueue to the start of processing', labelNames: ['queue'], buckets: SECONDS, registers });
    this.endToEnd = new Histogram({ name: 'talkie_job_end_to_end_seconds', help: 'Time from job creation to its terminal state', labelNames: ['outcome'], buckets: SECONDS, registers });
  }
}
