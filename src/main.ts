/**
 * `npm start`: read config, migrate, run until SIGTERM/SIGINT.
 */
import { loadConfig } from './config.js';
import { createLogger } from './log.js';
import { startSidecar } from './sidecar.js';
import { ConfigError, StartError, coerceError } from './errors.js';

/** Shutdown must finish within 10 s (the contract); in-flight requests get 8 of them. */
const HARD_EXIT_MS = 10_000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`Configuration error: ${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  let sidecar;
  try {
    sidecar = await startSidecar(config, log);
  } catch (err) {
    const e = coerceError(err);
    if (e instanceof ConfigError) {
      // Found only once the database is open (a secrets key that does not open the stored secrets): still configuration.
      process.stderr.write(`Configuration error: ${e.message}\n`);
      process.exit(78);
    } else if (e instanceof StartError) process.stderr.write(`Cannot start: ${e.message}\n`);
    else
      log.error('could not start', {
        error: e.message,
        code: (e as { code?: string }).code,
        database: redactUrl(config.databaseUrl),
      });
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    setTimeout(() => {
      log.error('shutdown took too long; exiting');
      process.exit(1);
    }, HARD_EXIT_MS).unref();
    sidecar.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('shutdown failed', { error: coerceError(err).message });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

function redactUrl(u: string): string {
  try {
    const url = new URL(u);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(unparseable)';
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`fatal: ${coerceError(err).stack ?? String(err)}\n`);
  process.exit(1);
});
