import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DeliveryAttempt } from '@talkie/contracts';

/** A webhook receiver on loopback, for the tests that need one (`port` 0: any free one). */
export interface Receiver {
  url: string;
  port: number;
  server: Server;
  received: Array<{ headers: Record<string, string>; body: string; path: string; at: number }>;
  /** TCP connections accepted so far (SSRF tests assert none reached it) */
  connections: number;
  /** how it answers; 200 "ok" unless a test replaces it */
  answer: (req: IncomingMessage, res: ServerResponse) => void;
  close(): Promise<void>;
}

export async function startReceiver(port = 0): Promise<Receiver> {
  const receiver = { received: [], connections: 0, answer: (_req: IncomingMessage, res: ServerResponse) => res.end('ok') } as unknown as Receiver;
  receiver.server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      receiver.received.push({ headers: req.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8'), path: req.url ?? '', at: Date.now() });
      receiver.answer(req, res);
    });
  });
  receiver.server.on('connection', () => receiver.connections++);
  await new Promise<void>((resolve, reject) => {
    receiver.server.once('error', reject);
    receiver.server.listen(port, '127.0.0.1', resolve);
  });
  receiver.port = (receiver.server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}/hooks/talkie`;
  receiver.close = () =>
    new Promise((resolve) => {
      receiver.server.closeAllConnections();
      receiver.server.close(() => resolve());
    });
  return receiver;
}

/** `GET /v1/jobs/{id}/deliveries`: every recorded attempt, oldest first. */
export async function listDeliveries(baseUrl: string, token: string, jobId: string): Promise<DeliveryAttempt[]> {
  const res = await fetch(`${baseUrl}/v1/jobs/${jobId}/deliveries`, { headers: { authorization: `Bearer ${token}` } });
  return ((await res.json()) as { data: DeliveryAttempt[] }).data;
}

/** `POST /v1/webhooks/secret`: creates (rotates) the tenant's webhook signing secret; throws unless 201. */
export async function createWebhookSecret(baseUrl: string, token: string): Promise<string> {
  const res = await fetch(`${baseUrl}/v1/webhooks/secret`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 201) throw new Error(`POST /v1/webhooks/secret answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { secret: string }).secret;
}
