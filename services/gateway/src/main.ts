import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, onShutdown } from '@talkie/runtime';
import { createRedis, createTranscribeQueue, evictionPolicy, JobStore } from '@talkie/queue';
import { createStorage } from '@talkie/storage';
import { createApp } from './app';
import { loadGatewayConfig } from './config';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

async function main() {
  const config = loadGatewayConfig();
  const logger = createLogger({ service: 'gateway', level: config.LOG_LEVEL });
  const redis = createRedis(config.REDIS_URL, 'producer');
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  const queue = createTranscribeQueue(createRedis(config.REDIS_URL, 'producer'));
  queue.on('error', (err) => logger.warn({ err: err.message }, 'queue connection error'));
  const storage = createStorage(config.STORAGE_URL);
  await storage.ping();
  const store = new JobStore(redis, config.RESULT_TTL_S * 1000);

  const app = createApp({ logger, redis, storage, store, queue, jwtSecret: config.JWT_SECRET, maxUploadBytes: config.MAX_UPLOAD_BYTES });
  const server = createServer(app);
  server.requestTimeout = config.REQUEST_TIMEOUT_MS;
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.HOST, resolve);
  });
  const { port } = server.address() as AddressInfo;
  if (!LOOPBACK.has(config.HOST)) {
    logger.warn({ host: config.HOST }, 'listening beyond loopback: put TLS and a reverse proxy in front (docs/security.md)');
  }
  logger.info({ host: config.HOST, port, storage: storage.description }, 'gateway listening');

  evictionPolicy(redis).then((policy) => {
    if (policy && policy !== 'noeviction') {
      logger.warn({ policy }, `Redis maxmemory-policy is "${policy}": it can evict queued jobs; set it to noeviction`);
    }
  }, () => undefined);

  onShutdown(logger, async () => {
    // Stop accepting; requests in flight (uploads included) finish within the grace period.
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await queue.close();
    await redis.quit();
  });
}

main().catch((err: Error) => {
  // Configuration problems are the operator's to fix: say what, without a stack trace.
  console.error(`gateway: ${err.message}`);
  process.exit(1);
});
