/**
 * What the `npm run capture` and `npm run secrets` commands share: our tables
 * migrated on the configured database for the command's run, and one line on
 * stderr with exit code 1 when it fails.
 */
import type { Pool } from 'mysql2/promise';
import type { Config } from './config.js';
import { parseDatabaseUrl } from './db/databaseUrl.js';
import { createPool, ensureDatabase } from './db/pool.js';
import { tableNames, type Tables } from './db/tables.js';
import { migrate } from './db/migrate.js';
import { silentLogger } from './log.js';
import { ConfigError, coerceError } from './errors.js';

export async function withMigratedDatabase<T>(config: Config, fn: (pool: Pool, t: Tables) => Promise<T>): Promise<T> {
  const target = parseDatabaseUrl(config.databaseUrl, config.databaseSocket);
  await ensureDatabase(target);
  const pool = createPool(target, 2);
  const t = tableNames(config.tablePrefix);
  try {
    await migrate(pool, t, silentLogger);
    return await fn(pool, t);
  } finally {
    await pool.end();
  }
}

/** Runs a command's main and exits with its code; a failure is one line, "Configuration error" for a ConfigError. */
export function runCommand(label: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      const e = coerceError(err);
      process.stderr.write(`${e instanceof ConfigError ? 'Configuration error' : label}: ${e.message}\n`);
      process.exit(1);
    },
  );
}
