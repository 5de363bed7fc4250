import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import { postWebhook, type PostWebhookOptions } from './deliver';
import type { Resolver } from './url';

interface Receiver {
  port: number;
  connections: number;
  requests: Array<{ method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string }>;
  close(): Promise<void>;
}

async function receiver(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Receiver> {
  const sockets = new Set<Socket>();
  const state = { connections: 0, requests: [] as Receiver['requests'] };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      handler(req, res);
    });
  });
  server.on('connection', (socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get connections() {
      return state.connections;
    },
    get requests() {
      return state.requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const dev: PostWebhookOptions = { allowPrivate: true, timeoutMs: 2_000, maxResponseBytes: 1024 };
const strict: PostWebhookOptions = { ...dev, allowPrivate: false };
const body = JSON.stringify({ type: 'job.completed', data: { id: 'x' } });

describe('postWebhook', () => {
  let open: Receiver[] = [];
  afterEach(async () => {
    await Promise.all(open.map((r) => r.close()));
    open = [];
  });
  const start = async (handler: (req: IncomingMessage, res: ServerResponse) => void) => {
    const r = await receiver(handler);
    open.push(r);
    return r;
  };

  it('POSTs the body with the given headers and returns the status', async () => {
    const r = await start((_req, res) => res.writeHead(204).end());
    const result = await postWebhook(`http://127.0.0.1:${r.port}/hook?x=1`, body, { 'content-type': 'application/json', 'webhook-id': 'msg_1' }, dev);
    expect(result).toEqual({ status: 204, durationMs: expect.any(Number) });
    expect(r.requests).toHaveLength(1);
    expect(r.requests[0]).toMatchObject({ method: 'POST', url: '/hook?x=1', body });
    expect(r.requests[0].headers).toMatchObject({ 'content-type': 'application/json', 'webhook-id': 'msg_1', host: `127.0.0.1:${r.port}` });
  });

  it('connects to the address resolved and checked, keeping the name as Host (pinned: one resolution)', async () => {
    const r = await start((_req, res) => res.writeHead(200).end('ok'));
    const calls: string[] = [];
    const resolve: Resolver = async (host) => {
      calls.push(host);
      return ['127.0.0.1'];
    };
    const result = await postWebhook(`http://hooks.example.test:${r.port}/in`, body, {}, { ...dev, resolve });
    expect(result.status).toBe(200);
    expect(calls).toEqual(['hooks.example.test']);
    expect(r.requests[0].headers.host).toBe(`hooks.example.test:${r.port}`);
  });

  it('DNS rebinding: a name that answers public first and loopback later never reaches loopback', async () => {
    const r = await start((_req, res) => res.writeHead(200).end());
    let n = 0;
    // First answer: a public (documentation-free) address that the check accepts; an attacker's
    // resolver would then switch to 127.0.0.1 for the connection's own lookup, which never happens.
    const resolve: Resolver = async () => (n++ === 0 ? ['93.184.215.14'] : ['127.0.0.1']);
    const result = await postWebhook(`https://rebind.example.test:${r.port}/`, body, {}, { ...strict, timeoutMs: 300, resolve });
    expect(n).toBe(1);
    expect(result.status).toBeUndefined();
    expect(['timeout', 'network_error', 'connection_refused']).toContain(result.error);
    expect(r.connections).toBe(0);
  });

  it('refuses loopback without allowPrivate, before any connection', async () => {
    const r = await start((_req, res) => res.writeHead(200).end());
    for (const url of [`https://127.0.0.1:${r.port}/`, `https://[::ffff:127.0.0.1]:${r.port}/`, `https://0x7f000001:${r.port}/`, `http://127.0.0.1:${r.port}/`]) {
      expect(await postWebhook(url, body, {}, strict)).toEqual({ error: 'address_not_allowed', durationMs: expect.any(Number) });
    }
    const resolve: Resolver = async () => ['93.184.215.14', '127.0.0.1'];
    expect((await postWebhook(`https://mixed.example.test:${r.port}/`, body, {}, { ...strict, resolve })).error).toBe('address_not_allowed');
    expect((await postWebhook(`https://localhost:${r.port}/`, body, {}, strict)).error).toBe('address_not_allowed');
    expect((await postWebhook(`https://169.254.169.254/`, body, {}, dev)).error).toBe('address_not_allowed');
    expect(r.connections).toBe(0);
  });

  it('never follows redirects: a 3xx is just a status', async () => {
    const target = await start((_req, res) => res.writeHead(200).end());
    const r = await start((_req, res) => res.writeHead(302, { location: `http://127.0.0.1:${target.port}/elsewhere` }).end());
    expect((await postWebhook(`http://127.0.0.1:${r.port}/`, body, {}, dev)).status).toBe(302);
    expect(target.connections).toBe(0);
  });

  it('reads at most maxResponseBytes of the answer, then drops the connection', async () => {
    let written = 0;
    const r = await start((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = () => {
        while (written < 64 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('error', () => undefined);
      pump();
    });
    const result = await postWebhook(`http://127.0.0.1:${r.port}/`, body, {}, { ...dev, maxResponseBytes: 4096 });
    expect(result).toEqual({ status: 500, durationMs: expect.any(Number) });
    expect(written).toBeLessThan(64 * 1024 * 1024);
  });

  it('times out a receiver that never answers', async () => {
    const r = await start(() => undefined);
    const result = await postWebhook(`http://127.0.0.1:${r.port}/`, body, {}, { ...dev, timeoutMs: 200 });
    expect(result.error).toBe('timeout');
    expect(result.durationMs).toBeGreaterThanOrEqual(190);
    expect(result.durationMs).toBeLessThan(1_500);
  });

  it('times out a resolver that hangs', async () => {
    const resolve: Resolver = () => new Promise(() => undefined);
    expect((await postWebhook('https://slow.example.test/', body, {}, { ...strict, timeoutMs: 100, resolve })).error).toBe('timeout');
  });

  it('reports a closed port as connection_refused', async () => {
    const r = await start(() => undefined);
    const port = r.port;
    await r.close();
    open = [];
    expect((await postWebhook(`http://127.0.0.1:${port}/`, body, {}, dev)).error).toBe('connection_refused');
  });

  it('reports TLS failures as tls_error (https to a plain http server)', async () => {
    const r = await start((_req, res) => res.writeHead(200).end());
    expect((await postWebhook(`https://127.0.0.1:${r.port}/`, body, {}, dev)).error).toBe('tls_error');
  });

  it('reports an unresolvable name as network_error', async () => {
    const resolve: Resolver = async () => {
      throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    expect((await postWebhook('https://gone.example.test/', body, {}, { ...strict, resolve })).error).toBe('network_error');
  });

  const haveOpenssl = spawnSync('openssl', ['version']).status === 0;
  (haveOpenssl ? it : it.skip)('https to a pinned address keeps the name for SNI and certificate checks', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'talkie-webhook-tls-'));
    try {
      const key = path.join(dir, 'key.pem');
      const cert = path.join(dir, 'cert.pem');
      const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=hooks.example.test', '-addext', 'subjectAltName=DNS:hooks.example.test']);
      expect(made.status).toBe(0);
      let sni: string | undefined;
      const server = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
        sni = (req.socket as import('node:tls').TLSSocket).servername || undefined;
        req.resume();
        req.on('end', () => res.writeHead(200).end());
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;
      const resolve: Resolver = async () => ['127.0.0.1'];
      try {
        const ca = readFileSync(cert);
        expect((await postWebhook(`https://hooks.example.test:${port}/`, body, {}, { ...dev, resolve, ca })).status).toBe(200);
        expect(sni).toBe('hooks.example.test');
        // a name the certificate does not cover fails verification although the address is the same
        const other = await postWebhook(`https://other.example.test:${port}/`, body, {}, { ...dev, resolve, ca });
        expect(other.error).toBe('tls_error');
        // and an unknown CA fails too: verification is never turned off
        expect((await postWebhook(`https://hooks.example.test:${port}/`, body, {}, { ...dev, resolve })).error).toBe('tls_error');
      } finally {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
