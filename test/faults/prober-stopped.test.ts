import { existsSync } from 'node:fs';
import { residentProberPath } from '@talkie/media';
import { waitForJob } from '../support/client';
import { fixture } from '../support/fixtures';
import { startStack, type Stack } from '../support/stack';
import { POLLING_GATEWAY_ENV, logLines, processesMatching, say, sleep, submitForm } from './support/faults';

/**
 * Case 5b: the gateway's resident prober (talkie-probe) stops answering: its process is stopped
 * with SIGSTOP, a hang no timer inside it can end. The upload that waits on it is probed with
 * ffprobe instead once the gateway gives up on the helper (PROBE_TIMEOUT_MS + 2 s), so it is
 * accepted, not refused for a fault that is not the file's; the stopped helper is killed, and a new
 * one serves the uploads after it. Needs talkie-probe built (`npm run build`; CI requires it).
 */
const PROBE_TIMEOUT_MS = 1_000;
const WEDGED_AFTER_MS = 2_000; // ResidentProber's grace beyond the probe's own limit
const built = existsSync(residentProberPath());
const describeBuilt = built ? describe : describe.skip;
if (!built) console.warn(`fault case 5b skipped: ${residentProberPath()} is not built (needs cc and libavformat-dev)`);

describeBuilt('fault: the resident prober stops answering', () => {
  let stack: Stack;
  const tenant = 'fault-prober';

  beforeAll(async () => {
    stack = await startStack({ name: 'fault-prober', gatewayEnv: { ...POLLING_GATEWAY_ENV, PROBE_TIMEOUT_MS: String(PROBE_TIMEOUT_MS) } });
  }, 90_000);
  afterAll(async () => {
    await stack?.stop();
  });

  const helpers = () => processesMatching(/talkie-probe --formats/).filter((p) => p.ppid === stack.gateway.pid);

  it('an upload waiting on a stopped talkie-probe is probed with ffprobe and accepted; a new helper takes over', async () => {
    const token = stack.token(tenant);
    const ready = (await (await fetch(`${stack.baseUrl}/readyz`)).json()) as { versions: { prober: string } };
    expect(ready.versions.prober).toBe('resident');
    const [helper] = helpers();
    expect(helper).toBeDefined();

    process.kill(helper.pid, 'SIGSTOP');
    say(`case 5b: injected SIGSTOP into the gateway's talkie-probe (pid ${helper.pid}); probe limit ${PROBE_TIMEOUT_MS} ms`);
    const started = Date.now();
    const held = await submitForm(stack, token, (await fixture('HELD UP')).file);
    const tookMs = Date.now() - started;
    const heldJob = held.status === 202 ? await waitForJob(stack.baseUrl, token, held.body.id, 30_000) : undefined;
    const stoppedGone = !helpers().some((p) => p.pid === helper.pid);

    // The next helper starts on an upload at least 5 s after the loss (a crash loop costs little).
    let replacement: number | undefined;
    const deadline = Date.now() + 20_000;
    while (!replacement && Date.now() < deadline) {
      await sleep(1_000);
      const r = await submitForm(stack, token, (await fixture('NEXT ONE')).file);
      expect(r.status).toBe(202);
      replacement = helpers().find((p) => p.pid !== helper.pid)?.pid;
    }
    // once it is there, uploads go through it again: no more ffprobe fallbacks
    const fallbacksBefore = logLines(stack, 'gateway').filter((l) => String(l.msg).includes('resident prober unavailable')).length;
    const after = await submitForm(stack, token, (await fixture('AFTER')).file);
    const afterJob = after.status === 202 ? await waitForJob(stack.baseUrl, token, after.body.id, 30_000) : undefined;
    const fallbacksAfter = logLines(stack, 'gateway').filter((l) => String(l.msg).includes('resident prober unavailable')).length;
    const restarted = logLines(stack, 'gateway').some((l) => l.msg === 'resident prober restarted');

    say('case 5b: observed', { answer: held.status, took_ms: tookMs, held_job: heldJob?.status, stopped_helper_killed: stoppedGone, replacement_pid: replacement, restarted, after: afterJob?.status, new_fallbacks_after_restart: fallbacksAfter - fallbacksBefore });
    expect(held.status).toBe(202);
    expect(tookMs).toBeGreaterThanOrEqual(PROBE_TIMEOUT_MS + WEDGED_AFTER_MS - 100);
    expect(tookMs).toBeLessThan(PROBE_TIMEOUT_MS + WEDGED_AFTER_MS + 5_000);
    expect(heldJob).toMatchObject({ status: 'completed', result: { text: 'HELD UP' } });
    expect(stoppedGone).toBe(true);
    expect(replacement).toBeDefined();
    expect(restarted).toBe(true);
    expect(afterJob).toMatchObject({ status: 'completed', result: { text: 'AFTER' } });
    expect(fallbacksAfter).toBe(fallbacksBefore);
    expect(stack.gateway.exitCode).toBeNull();
  }, 90_000);
});
