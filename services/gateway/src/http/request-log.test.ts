import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createLogger } from '@talkie/runtime';
import { requestLog } from './request-log';

/**
 * Collects what the logger writes (pino writes one JSON line per call); `lineCount(n)` resolves
 * once n lines are in, so tests wait for the log lines themselves, not for a guessed delay (the
 * "request completed" line is written on the response's finish, after the client has its answer).
 */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const waiting: { count: number; resolve: () => void }[] = [];
  const stream = {
    write: (line: string) => {
      lines.push(JSON.parse(line));
      for (const w of waiting.filter((w) => lines.length >= w.count)) w.resolve();
    },
  };
  const lineCount = (count: number) => (lines.length >= count ? Promise.resolve() : new Promise<void>((resolve) => waiting.push({ count, resolve })));
  return { lines, stream, lineCount };
}

async function serve(level: string) {
  const { lines, stream, lineCount } = capture();
  const logger = createLogger({ service: 'test', level }, stream);
  const app = express();
  app.use(requestLog(logger));
  app.get('/ok', (_req, res) => void res.json({ ok: true }));
  app.get('/bad', (req, res) => {
    req.log.info({ code: 'invalid_request' }, 'request rejected');
    res.status(400).json({});
  });
  app.get('/boom', (_req, res) => void res.status(500).json({}));
  app.get('/hang', (_req, res) => void res.write('x'));
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { lines, lineCount, base, close: () => new Promise((r) => {
      server.close(r);
      server.closeAllConnections();
    }) };
}

describe('requestLog', () => {
  it('logs 4xx at info and 5xx as errors, with id, method and path but never the query string', async () => {
    const s = await serve('info');
    try {
      const ok = await fetch(`${s.base}/ok?token=secret-in-query`);
      expect(ok.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      await fetch(`${s.base}/bad?token=secret-in-query`, { headers: { 'x-request-id': 'client-id-1' } });
      await fetch(`${s.base}/boom`);
      await s.lineCount(3);
      const text = JSON.stringify(s.lines);
      expect(text).not.toContain('secret-in-query');
      // the 2xx is below info: not logged
      expect(s.lines.map((l) => [l.level, l.msg, (l.req as { path: string }).path])).toEqual([
        [30, 'request rejected', '/bad'],
        [30, 'request completed', '/bad'],
        [50, 'request completed', '/boom'],
      ]);
      expect(s.lines[1]).toMatchObject({ req: { id: 'client-id-1', method: 'GET' }, res: { statusCode: 400 } });
      expect(typeof s.lines[1].responseTime).toBe('number');
    } finally {
      await s.close();
    }
  });

  it('logs 2xx at debug, and a request the client abandoned at info as aborted', async () => {
    const s = await serve('debug');
    try {
      await fetch(`${s.base}/ok`);
      const controller = new AbortController();
      const hanging = await fetch(`${s.base}/hang`, { signal: controller.signal });
      expect(hanging.status).toBe(200);
      controller.abort();
      await s.lineCount(2);
      expect(s.lines.map((l) => [l.level, l.msg, (l.req as { path: string }).path])).toEqual([
        [20, 'request completed', '/ok'],
        [30, 'request aborted', '/hang'],
      ]);
    } finally {
      await s.close();
    }
  });
});
