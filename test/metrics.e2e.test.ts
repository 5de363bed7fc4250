import { submit, waitForJob } from './support/client';
import { fixture } from './support/fixtures';
import { freePort, startStack, type Stack } from './support/stack';

/** Prometheus metrics of each service after real jobs: every family is there, with sane values. */
function parse(text: string): Map<string, Array<{ labels: string; value: number }>> {
  const samples = new Map<string, Array<{ labels: string; value: number }>>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match) continue;
    const list = samples.get(match[1]) ?? [];
    list.push({ labels: match[2] ?? '', value: Number(match[3]) });
    samples.set(match[1], list);
  }
  return samples;
}
const total = (samples: Map<string, Array<{ labels: string; value: number }>>, name: string, labelFilter = '') =>
  (samples.get(name) ?? []).filter((s) => s.labels.includes(labelFilter)).reduce((sum, s) => sum + s.value, 0);

describe('metrics', () => {
  let stack: Stack;
  let metricsPort: number;
  beforeAll(async () => {
    metricsPort = await freePort();
    stack = await startStack({ name: 'metrics', gatewayEnv: { METRICS_PORT: String(metricsPort), RATE_LIMIT_MAX: '40' } });
  }, 60_000);
  afterAll(() => stack?.stop());

  it('reports the gateway, queue and worker families after real jobs', async () => {
    const token = stack.token('alice');
    const video = await fixture('COUNT ME');
    for (let i = 0; i < 2; i++) {
      const created = await submit(stack.baseUrl, token, video.file);
      await waitForJob(stack.baseUrl, token, created.body.id);
    }
    await fetch(`${stack.baseUrl}/v1/jobs/00000000-0000-4000-8000-000000000000`); // an auth failure
    for (let i = 0; i < 45; i++) await fetch(`${stack.baseUrl}/v1/jobs`, { headers: { authorization: `Bearer ${token}` } }); // past the rate limit

    // the public port does not serve metrics
    expect((await fetch(`${stack.baseUrl}/metrics`)).status).toBe(404);

    const gateway = parse(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text());
    expect(total(gateway, 'talkie_jobs_created_total')).toBe(2);
    expect(total(gateway, 'talkie_upload_bytes_total')).toBeGreaterThan(2 * 1000);
    expect(total(gateway, 'talkie_auth_failures_total', 'reason="missing"')).toBeGreaterThanOrEqual(1);
    expect(total(gateway, 'talkie_rate_limited_requests_total')).toBeGreaterThanOrEqual(1);
    expect(total(gateway, 'talkie_http_request_duration_seconds_count', 'route="/v1/jobs/:id"')).toBeGreaterThanOrEqual(2);
    expect(total(gateway, 'talkie_http_request_duration_seconds_count', 'status="202"')).toBe(2);
    // raw ids never become label values (cardinality)
    expect([...gateway.values()].flat().some((s) => /[0-9a-f]{8}-[0-9a-f]{4}-/.test(s.labels))).toBe(false);
    expect(gateway.has('talkie_queue_jobs')).toBe(true);
    expect(total(gateway, 'talkie_queue_jobs', 'state="waiting"')).toBe(0);
    // every queue of the job catalogue is counted, for dashboards and autoscaling (issue 19: the webhook queue too)
    for (const queue of ['transcribe', 'transcribe-chunks', 'postprocess', 'webhooks']) {
      expect(gateway.get('talkie_queue_jobs')!.some((s) => s.labels.includes(`queue="${queue}"`))).toBe(true);
    }
    expect(gateway.has('process_cpu_user_seconds_total')).toBe(true);

    const worker = parse(await (await fetch(`http://127.0.0.1:${stack.workerPorts[0]}/metrics`)).text());
    expect(total(worker, 'talkie_worker_jobs_total', 'outcome="completed"')).toBe(2);
    expect(total(worker, 'talkie_worker_frames_total')).toBe(2 * Math.round(video.duration_s * 25));
    for (const stage of ['probe', 'decode', 'preprocess', 'inference', 'ctc']) {
      expect(total(worker, 'talkie_worker_stage_duration_seconds_count', `stage="${stage}"`)).toBe(2);
      expect(total(worker, 'talkie_worker_stage_duration_seconds_sum', `stage="${stage}"`)).toBeGreaterThan(0);
    }
    expect(total(worker, 'talkie_queue_wait_seconds_count')).toBe(2);
    expect(total(worker, 'talkie_job_end_to_end_seconds_count', 'outcome="completed"')).toBe(2);
    expect(total(worker, 'talkie_worker_batch_size_count')).toBe(2);
    expect(total(worker, 'talkie_worker_model_load_seconds')).toBeGreaterThan(0);
    expect(total(worker, 'talkie_worker_execution_provider_info', 'provider="cpu"')).toBe(1);
    expect(total(worker, 'talkie_worker_job_frames_per_second_count')).toBe(2);
  }, 60_000);
});
