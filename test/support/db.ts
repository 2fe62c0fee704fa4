/**
 * A fresh database per test file, dropped afterwards unless a test failed
 * (then it is kept, and its name printed, for a look with the mariadb client).
 */
import { runChild } from './child.js';
import mysql from 'mysql2/promise';
import { randomBytes } from 'node:crypto';
import { createPool } from '../../src/db/pool.js';
import { parseDatabaseUrl } from '../../src/db/databaseUrl.js';
import { migrate } from '../../src/db/migrate.js';
import { tableNames } from '../../src/db/tables.js';
import { silentLogger } from '../../src/log.js';

export const SERVER_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

export interface TestDb {
  name: string;
  url: string;
  /** A small pool for the test's own queries (the LMS's inserts, checks). */
  pool: mysql.Pool;
  /**
   * Runs fn before the database is dropped (last registered, first run):
   * whatever uses the database stops before it goes, whatever order mocha
   * runs the after-hooks of the fixtures in.
   */
  beforeDrop(fn: () => Promise<void>): void;
  drop(keep?: boolean): Promise<void>;
}

export async function createTestDb(label: string): Promise<TestDb> {
  const name = `whtest_${label.replace(/[^a-z0-9]/gi, '').slice(0, 20)}_${randomBytes(3).toString('hex')}`;
  const admin = await mysql.createConnection(SERVER_URL);
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await admin.end();
  const url = `${SERVER_URL}/${name}`;
  const pool = mysql.createPool({ uri: url, connectionLimit: 4, timezone: 'Z' });
  pool.pool.on('connection', (c) => c.query("SET time_zone = '+00:00'"));
  const cleanups: (() => Promise<void>)[] = [];
  return {
    name,
    url,
    pool,
    beforeDrop(fn) {
      cleanups.push(fn);
    },
    async drop(keep = false) {
      const errors: unknown[] = [];
      while (cleanups.length) await cleanups.pop()!().catch((err: unknown) => errors.push(err));
      await pool.end();
      if (errors.length) keep = true;
      if (keep) {
        process.stderr.write(`  (kept database ${name} for inspection)\n`);
        return;
      }
      const a = await mysql.createConnection(SERVER_URL);
      await a.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await a.end();
      if (errors.length) throw errors[0];
    },
  };
}

/** Registers before/after hooks in the calling describe(); drops the db unless a test in it failed. */
export function useTestDb(label: string): { get(): TestDb } {
  let db: TestDb | undefined;
  let failed = false;
  before(async () => {
    db = await createTestDb(label);
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') failed = true;
  });
  after(async () => {
    await db?.drop(failed);
  });
  return {
    get() {
      if (!db) throw new Error('test database not created yet');
      return db;
    },
  };
}

/** A pool on the test database with the sidecar's migrations applied under `prefix`; end() it after. */
export async function migratedPool(url: string, prefix = 'wp_', connections = 2) {
  const pool = createPool(parseDatabaseUrl(url), connections);
  const t = tableNames(prefix);
  await migrate(pool, t, silentLogger);
  return { pool, t };
}

export async function insertOutbox(
  pool: mysql.Pool | mysql.PoolConnection,
  rows: { type: string; payload: unknown; eventId?: string; occurredAt?: Date; key?: string | null }[],
  prefix = 'wp_',
): Promise<void> {
  if (rows.length === 0) return;
  // ordering_key only when a row sets it: an LMS-made outbox may not have the column.
  const keyed = rows.some((r) => r.key !== undefined);
  for (let i = 0; i < rows.length; i += 1000) {
    const chunk = rows.slice(i, i + 1000);
    await pool.query(
      `INSERT INTO \`${prefix}webhook_outbox\` (event_type, payload, event_id, occurred_at${keyed ? ', ordering_key' : ''}) VALUES ?`,
      [
        chunk.map((r) => [
          r.type,
          typeof r.payload === 'string' ? r.payload : JSON.stringify(r.payload),
          r.eventId ?? null,
          r.occurredAt ?? null,
          ...(keyed ? [r.key ?? null] : []),
        ]),
      ],
    );
  }
}

/** The database as mysqldump writes it (one INSERT per row, so a value is never split across lines). */
export async function mysqldump(dbUrl: string, opts: { dataOnly?: boolean } = {}): Promise<string> {
  const u = new URL(dbUrl);
  const { stdout } = await runChild('mysqldump', [
    `--host=${u.hostname}`,
    `--port=${u.port || '3306'}`,
    `--user=${decodeURIComponent(u.username)}`,
    ...(u.password ? [`--password=${decodeURIComponent(u.password)}`] : []),
    ...(opts.dataOnly ? ['--no-create-info'] : []),
    '--skip-extended-insert',
    '--no-tablespaces',
    '--skip-lock-tables',
    u.pathname.slice(1),
  ]);
  return stdout;
}
