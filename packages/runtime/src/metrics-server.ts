import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';

/** A registry with the process's default metrics (CPU, memory, event loop lag, GC) registered. */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

export interface OpsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  /** `/readyz`: ready or not, and details for operators */
  readiness?: () => Promise<{ ready: boolean; info?: object }> | { ready: boolean; info?: object };
}

/**
 * `/metrics`, `/healthz` and `/readyz` on their own port, never the public one: operators scrape
 * and probe on a private network, and a client cannot read internal figures.
 */
export async function startOpsServer(options: OpsServerOptions): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET') {
      res.statusCode = 405;
      return res.end();
    }
    if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => {
          res.setHeader('Content-Type', options.registry.contentType);
          res.end(text);
        },
        () => {
          res.statusCode = 500;
          res.end();
        },
      );
      return;
    }
    res.setHeader('Content-Type', 'application/json');
    if (path === '/healthz') return res.end(JSON.stringify({ status: 'ok' }));
    if (path === '/readyz') {
      Promise.resolve(options.readiness ? options.readiness() : { ready: true }).then(
        ({ ready, info }) => {
          res.statusCode = ready ? 200 : 503;
          res.end(JSON.stringify({ status: ready ? 'ready' : 'not_ready', ...(info ?? {}) }));
        },
        () => {
          res.statusCode = 503;
          res.end(JSON.stringify({ status: 'not_ready' }));
        },
      );
      return;
    }
    res.statusCode = 404;
    res.end(JSON.stringify({ error: { code: 'route_not_found', message: 'No such route.' } }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  return { server, port: (server.address() as AddressInfo).port };
}
