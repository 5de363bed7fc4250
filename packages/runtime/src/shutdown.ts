import type { Logger } from 'pino';

/**
 * Runs `close` once on SIGTERM or SIGINT, then exits. A second signal, or the grace period running
 * out, exits at once: an operator's second Ctrl-C means "now".
 */
export function onShutdown(logger: Logger, close: () => Promise<void>, graceMs = 30_000): void {
  let closing = false;
  const handler = (signal: NodeJS.Signals) => {
    if (closing) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    closing = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ grace_ms: graceMs }, 'shutdown grace period over: exiting');
      process.exit(1);
    }, graceMs);
    timer.unref();
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
