/**
 * Applies sql/NNNNNN_name.sql files in order, once each, recording them in
 * {prefix}webhook_migrations. A lease lock every node sees (db/locks.ts)
 * makes a second process that starts at the same moment, on any node of a
 * cluster, wait instead of applying a file twice.
 * Files are never edited once released: a change is a new file. The
 * outbox, which the LMS may have created itself, is then fitted in code.
 */
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { Tables } from './tables.js';
import type { Logger } from '../log.js';
import { StartError } from '../errors.js';
import { newHolder, ensureLockTable, withLock } from './locks.js';
import { retryConflicts } from './conflicts.js';

export const SQL_DIR = fileURLToPath(new URL('../../../sql/', import.meta.url));
const LOCK_WAIT_SECONDS = 300;

/**
 * DDL errors that mean "this step is already done" (duplicate column, key or
 * table; a column or key already dropped): a file is re-run from its start
 * when a process died part-way through it, so those steps are skipped.
 */
const ALREADY_DONE = new Set([
  'ER_DUP_FIELDNAME',
  'ER_DUP_KEYNAME',
  'ER_TABLE_EXISTS_ERROR',
  'ER_CANT_DROP_FIELD_OR_KEY',
]);

export interface Migration {
  id: number;
  name: string;
  statements: string[];
}

/** The statements of an SQL file: split at a `;` ending a line, `--` comment lines dropped. */
export function sqlStatements(text: string): string[] {
  return text
    .split(/;\s*$/m)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter(Boolean);
}

export async function loadMigrations(prefix: string, dir = SQL_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{6}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const out: Migration[] = [];
  for (const file of files) {
    const text = (await readFile(path.join(dir, file), 'utf8')).replaceAll('{prefix}', prefix);
    out.push({ id: Number(file.slice(0, 6)), name: file, statements: sqlStatements(text) });
  }
  return out;
}

export async function migrate(pool: Pool, tables: Tables, log: Logger): Promise<number> {
  // A lease row every node of a cluster sees (GET_LOCK is per server): two
  // replicas starting at once on two Galera nodes wait for each other.
  await retryConflicts(() => ensureLockTable(pool, tables));
  const r = await withLock(
    pool,
    tables,
    'migrate',
    newHolder(),
    { leaseMs: 30_000, waitMs: LOCK_WAIT_SECONDS * 1000 },
    async () => {
      const conn = await pool.getConnection();
      try {
        return await applyPending(conn, tables, log);
      } finally {
        conn.release();
      }
    },
  );
  return r.ran ? r.value : 0;
}

async function applyPending(conn: PoolConnection, tables: Tables, log: Logger): Promise<number> {
  await conn.query(`CREATE TABLE IF NOT EXISTS ${tables.migrations} (
    id INT UNSIGNED NOT NULL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
  await requireTransactionalOutbox(conn, tables);
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT id FROM ${tables.migrations}`);
  const applied = new Set(rows.map((r) => Number(r.id)));
  let count = 0;
  for (const m of await loadMigrations(tables.prefix)) {
    if (applied.has(m.id)) continue;
    for (const sql of m.statements) {
      try {
        await retryConflicts(() => conn.query(sql));
      } catch (err) {
        // A start that died half-way through a file left some of it applied: those steps are done.
        if (ALREADY_DONE.has((err as { code?: string }).code ?? '')) {
          log.info('migration step already applied; going on', { migration: m.name, detail: (err as Error).message });
          continue;
        }
        throw new Error(`migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
      }
    }
    // IGNORE: recording a migration twice must never fail a start.
    await retryConflicts(() =>
      conn.query(`INSERT IGNORE INTO ${tables.migrations} (id, name) VALUES (?, ?)`, [m.id, m.name]),
    );
    log.info('migration applied', { migration: m.name });
    count++;
  }
  await fitOutbox(conn, tables, log);
  return count;
}

const outboxName = (tables: Tables) => `${tables.prefix}webhook_outbox`;

/**
 * The outbox must roll back with the LMS's transaction: on MyISAM, Aria or
 * MEMORY an enrollment that rolls back still leaves its event, and it would
 * be sent. Refuse to start, with the statement that fixes it.
 */
async function requireTransactionalOutbox(conn: PoolConnection, tables: Tables): Promise<void> {
  const [[row]] = await conn.query<RowDataPacket[]>(
    'SELECT ENGINE AS engine FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
    [outboxName(tables)],
  );
  const engine = row?.engine === undefined || row.engine === null ? null : String(row.engine);
  if (engine === null || engine.toLowerCase() === 'innodb') return;
  throw new StartError(
    `the outbox table ${outboxName(tables)} uses the ${engine} engine, which does not take part in transactions: an event whose LMS transaction rolls back would still be sent. Convert it with: ALTER TABLE \`${outboxName(tables)}\` ENGINE=InnoDB;`,
  );
}

/** Our bookkeeping columns on the outbox, whoever created it. */
const OUTBOX_COLUMNS: readonly [string, string][] = [
  ['event_id', 'VARCHAR(64) NULL'],
  ['occurred_at', 'DATETIME(3) NULL'],
  ['fanned_out_at', 'DATETIME(3) NULL'],
  ['rejected_reason', 'VARCHAR(500) NULL'],
  ['delivery_count', 'INT UNSIGNED NULL'],
  ['fanout_note', 'VARCHAR(500) NULL'],
  // The insertion instant in UTC whatever the inserting session's time zone:
  // created_at's CURRENT_TIMESTAMP is wall-clock time in the LMS session's
  // zone, which nothing records. An expression default (MySQL 8.0.13+,
  // MariaDB 10.2+) rather than TIMESTAMP, which stops at 2038.
  ['inserted_at', 'DATETIME(3) NULL DEFAULT (UTC_TIMESTAMP(3))'],
];

/**
 * Brings the outbox to what fan-out needs, on every start, idempotently:
 * the LMS may have created it with only the contract's columns, and earlier
 * versions of ours put a UNIQUE key on event_id, which made a reused id fail
 * the LMS's own INSERT (and with it the enrollment or order it recorded).
 * Reused ids are rejected at fan-out instead. In code, not a .sql file,
 * because MySQL 8 has neither ADD COLUMN IF NOT EXISTS nor DROP INDEX IF EXISTS.
 */
async function fitOutbox(conn: PoolConnection, tables: Tables, log: Logger): Promise<void> {
  const name = outboxName(tables);
  const [cols] = await conn.query<RowDataPacket[]>(
    'SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
    [name],
  );
  const have = new Set(cols.map((r) => String(r.c).toLowerCase()));
  const changes = OUTBOX_COLUMNS.filter(([c]) => !have.has(c)).map(([c, def]) => `ADD COLUMN \`${c}\` ${def}`);
  const [idx] = await conn.query<RowDataPacket[]>(
    `SELECT INDEX_NAME AS i, NON_UNIQUE AS nu, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) AS cols
       FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? GROUP BY INDEX_NAME, NON_UNIQUE`,
    [name],
  );
  const indexes = new Map(
    idx.map((r) => [String(r.i), { unique: Number(r.nu) === 0, cols: String(r.cols).toLowerCase() }]),
  );
  if (!indexes.has('idx_fanned_out')) changes.push('ADD KEY `idx_fanned_out` (`fanned_out_at`, `id`)');
  if (indexes.get('uq_event_id')?.unique) changes.push('DROP INDEX `uq_event_id`');
  for (const [i, x] of indexes) {
    if (x.unique && i !== 'uq_event_id' && i !== 'PRIMARY' && x.cols.split(',').includes('event_id')) {
      log.warn(
        "the outbox has a unique key on event_id that the LMS made; a reused id will fail the LMS's INSERT. The sidecar rejects reused ids itself, so the key can go",
        {
          table: name,
          index: i,
          fix: `ALTER TABLE \`${name}\` DROP INDEX \`${i}\``,
        },
      );
    }
  }
  if (changes.length > 0) {
    log.info('fitting the outbox table', { table: name, changes });
    await conn.query(`ALTER TABLE ${tables.outbox} ${changes.join(', ')}`);
  }
  if (!have.has('ordering_key')) await addOrderingKey(conn, tables, log);
}

/**
 * ordering_key is the LMS's column (optional in the contract), added like our
 * own so an LMS can start writing it without a schema change of its own: a
 * NULL column without a default changes no INSERT that does not name it.
 * Unlike our columns it is not required: when the ALTER is refused (a
 * database user allowed to write the LMS's table but not to alter it), the
 * sidecar runs without ordering and says so on ordered endpoints.
 */
async function addOrderingKey(conn: PoolConnection, tables: Tables, log: Logger): Promise<void> {
  try {
    await conn.query(`ALTER TABLE ${tables.outbox} ADD COLUMN \`ordering_key\` VARCHAR(191) NULL`);
    log.info('added ordering_key to the outbox table', { table: outboxName(tables) });
  } catch (err) {
    log.warn('could not add ordering_key to the outbox; ordered endpoints deliver without ordering until it exists', {
      table: outboxName(tables),
      error: (err as Error).message,
      fix: `ALTER TABLE \`${outboxName(tables)}\` ADD COLUMN \`ordering_key\` VARCHAR(191) NULL`,
    });
  }
}
