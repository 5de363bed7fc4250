import { createServer, type Server } from 'node:http';

/**
 * A tiny HTTP server for orchestrator probes (the same shape as the worker's). The dispatcher takes
 * no other inbound connection: it pulls deliveries from Redis.
 */
export function startHealthServer(options: { host: string; port: number; isReady: () => boolean; info: () => object }): Promise<Server> {
  const server = createServer((req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Cache-Control', 'no-store');
    if (req.method === 'GET' && req.url === '/healthz') {
      res.end(JSON.stringify({ status: 'ok' }));
    } else if (req.method === 'GET' && req.url === '/readyz') {
      const ready = options.isReady();
      res.statusCode = ready ? 200 : 503;
      res.end(JSON.stringify({ status: ready ? 'ready' : 'starting', ...options.info() }));
    } else {
      res.statusCode = 404;
      res.end(JSON.stringify({ error: { code: 'route_not_found', message: 'No such route.' } }));
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve(server));
  });
}
