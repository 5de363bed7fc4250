import { createWriteStream } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

/**
 * Baseline of the upload row: node's own `http` server streaming each request body to a file in
 * UPLOAD_DIR (the same disk as the gateway's storage) and answering when the file is written. No
 * multipart parsing, no checks: the fastest an upload can be stored here.
 */
const dir = process.env.UPLOAD_DIR!;
let n = 0;
const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') {
    res.end('{"status":"ok"}');
    return;
  }
  if (req.method !== 'POST') {
    res.statusCode = 404;
    res.end();
    return;
  }
  const file = path.join(dir, `raw-${process.pid}-${n++}`);
  let bytes = 0;
  req.on('data', (chunk: Buffer) => (bytes += chunk.length));
  pipeline(req, createWriteStream(file, { flags: 'wx', mode: 0o600 })).then(
    () => {
      res.statusCode = 201;
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ file, bytes }));
    },
    (err: Error) => {
      res.statusCode = 500;
      res.end(JSON.stringify({ error: err.message }));
    },
  );
});
server.requestTimeout = 0;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`raw upload server listening on ${(server.address() as AddressInfo).port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
