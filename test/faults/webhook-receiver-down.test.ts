import { verifyWebhook } from '@talkie/client';
import { waitForJob } from '../support/client';
import { fixture } from '../support/fixtures';
import { freePort, startStack, waitUntil, type Stack } from '../support/stack';
import { POLLING_GATEWAY_ENV, createWebhookSecret, deliveries, say, sleep, startReceiver, submitForm } from './support/faults';

/**
 * Case 4: the customer's webhook receiver is down for the whole job (connection refused) and comes
 * back later. The dispatcher keeps retrying on its schedule; the event arrives once the receiver is
 * up, exactly once, with a signature that Talkie's client library accepts.
 */
const SCHEDULE = '300,600,1200,2400,4800,9600';
const TEXT = 'ARE YOU THERE';

describe('fault: webhook receiver down for the whole job, up later', () => {
  let stack: Stack;
  const tenant = 'fault-hooks';

  beforeAll(async () => {
    stack = await startStack({
      name: 'fault-hooks',
      gatewayEnv: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_SCHEDULE_MS: SCHEDULE, ...POLLING_GATEWAY_ENV },
      workerEnv: { WEBHOOK_RETRY_SCHEDULE_MS: SCHEDULE },
      dispatcherEnv: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_SCHEDULE_MS: SCHEDULE },
    });
  }, 90_000);
  afterAll(() => stack?.stop());

  it('delivers the event once the receiver is back, exactly once, with a valid signature', async () => {
    const token = stack.token(tenant);
    const secret = await createWebhookSecret(stack, token);
    const port = await freePort(); // nothing listens there: connection refused
    const url = `http://127.0.0.1:${port}/hooks/talkie`;
    const created = await submitForm(stack, token, (await fixture(TEXT)).file, { webhook_url: url });
    expect(created.status).toBe(202);
    const id = created.body.id;
    say(`case 4: injected a webhook receiver that is down (nothing listening on 127.0.0.1:${port}) for job ${id}`);

    const job = await waitForJob(stack.baseUrl, token, id, 60_000);
    expect(job.status).toBe('completed');
    await waitUntil(async () => (await deliveries(stack, token, id)).length >= 2, 'two failed delivery attempts', 30_000, 100);
    const whileDown = await deliveries(stack, token, id);

    const receiver = await startReceiver(port);
    const upAt = Date.now();
    say(`case 4: receiver started on port ${port} after ${whileDown.length} failed attempts`, { attempts: whileDown.map((a) => `${a.attempt}:${a.outcome}`) });
    try {
      await waitUntil(async () => receiver.received.length >= 1, 'the late delivery', 30_000, 50);
      const deliveredAfterMs = Date.now() - upAt;
      await sleep(2_000); // a duplicate would come within this
      const hook = receiver.received[0];
      const event = verifyWebhook(hook.headers, hook.body, [secret]);
      const log = await deliveries(stack, token, id);
      say('case 4: observed', {
        delivered_after_ms: deliveredAfterMs,
        posts: receiver.received.length,
        webhook_ids: [...new Set(receiver.received.map((r) => r.headers['webhook-id']))],
        signature: 'valid (verifyWebhook)',
        event: { type: event.type, id: event.data.id, text: event.data.result?.text },
        delivery_log: log.map((a) => `${a.attempt}:${a.outcome}${a.status_code ? `:${a.status_code}` : ''}`),
      });
      expect(whileDown.every((a) => a.outcome === 'retrying')).toBe(true);
      expect(receiver.received).toHaveLength(1);
      expect(event).toMatchObject({ type: 'job.completed', data: { id, status: 'completed', result: { text: TEXT } } });
      expect(hook.headers['webhook-id']).toBe(log[0].delivery_id);
      expect(new Set(log.map((a) => a.delivery_id)).size).toBe(1);
      expect(log[log.length - 1]).toMatchObject({ outcome: 'delivered', status_code: 200 });
      expect(log.filter((a) => a.outcome === 'delivered')).toHaveLength(1);
      // a tampered body is refused by the same verifier
      expect(() => verifyWebhook(hook.headers, hook.body.replace(TEXT, 'ARE YOU HERE'), [secret])).toThrow();
    } finally {
      await receiver.close();
    }
  }, 90_000);
});
