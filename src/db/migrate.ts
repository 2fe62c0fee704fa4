/**
 * Applies sql/NNNNNN_name.sql files in order, once each, recording them in
 * {prefix}webhook_migrations. A named lock (GET_LOCK) makes a second process
 * that starts at the same moment wait instead of applying a file twice.
 * Files are never edited once released: a change is a new file.
 */
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { Tables } from './tables.js';
import type { Logger } from '../log.js';

export const SQL_DIR = fileURLToPath(new URL('../../../sql/', import.meta.url));
const LOCK_WAIT_SECONDS = 60;

export interface Migration {
  id: number;
  name: string;
  statements: string[];
}

export async function loadMigrations(prefix: string, dir = SQL_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{6}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const out: Migration[] = [];
  for (const file of files) {
    const text = (await readFile(path.join(dir, file), 'utf8')).replaceAll('{prefix}', prefix);
    const statements = text
      .split(/;\s*$/m)
      .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
      .filter(Boolean);
    out.push({ id: Number(file.slice(0, 6)), name: file, statements });
  }
  return out;
}

export async function migrate(pool: Pool, tables: Tables, log: Logger): Promise<number> {
  const conn = await pool.getConnection();
  // Lock names are per server, so scope it to this database and prefix.
  const [[dbRow]] = await conn.query<RowDataPacket[]>('SELECT DATABASE() AS db');
  const lockName = `webhooks_migrate:${String(dbRow?.db)}:${tables.prefix}`.slice(0, 64);
  try {
    const [[lock]] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS got', [lockName, LOCK_WAIT_SECONDS]);
    if (lock?.got !== 1) throw new Error(`migrations: could not take lock ${lockName} within ${LOCK_WAIT_SECONDS}s; is another sidecar stuck migrating?`);
    try {
      return await applyPending(conn, tables, log);
    } finally {
      await conn.query('SELECT RELEASE_LOCK(?)', [lockName]);
    }
  } finally {
    conn.release();
  }
}

async function applyPending(conn: PoolConnection, tables: Tables, log: Logger): Promise<number> {
  await conn.query(`CREATE TABLE IF NOT EXISTS ${tables.migrations} (
    id INT UNSIGNED NOT NULL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT id FROM ${tables.migrations}`);
  const applied = new Set(rows.map((r) => Number(r.id)));
  let count = 0;
  for (const m of await loadMigrations(tables.prefix)) {
    if (applied.has(m.id)) continue;
    if (m.id === 1) await adoptOutbox(conn, tables, log);
    for (const sql of m.statements) {
      try {
        await conn.query(sql);
      } catch (err) {
        throw new Error(`migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
      }
    }
    await conn.query(`INSERT INTO ${tables.migrations} (id, name) VALUES (?, ?)`, [m.id, m.name]);
    log.info('migration applied', { migration: m.name });
    count++;
  }
  return count;
}

/**
 * The LMS may have created its outbox before the sidecar ever ran, with only
 * the contract's columns. Add our bookkeeping columns and index to it. Done in
 * code because MySQL 8 has no ADD COLUMN IF NOT EXISTS.
 */
async function adoptOutbox(conn: PoolConnection, tables: Tables, log: Logger): Promise<void> {
  const name = `${tables.prefix}webhook_outbox`;
  const [cols] = await conn.query<RowDataPacket[]>(
    'SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
    [name],
  );
  if (cols.length === 0) return;
  const have = new Set(cols.map((r) => String(r.c).toLowerCase()));
  const wanted: [string, string][] = [
    ['event_id', 'VARCHAR(64) NULL'],
    ['occurred_at', 'DATETIME(3) NULL'],
    ['fanned_out_at', 'DATETIME(3) NULL'],
    ['rejected_reason', 'VARCHAR(500) NULL'],
    ['delivery_count', 'INT UNSIGNED NULL'],
  ];
  const adds = wanted.filter(([c]) => !have.has(c)).map(([c, def]) => `ADD COLUMN \`${c}\` ${def}`);
  const [idx] = await conn.query<RowDataPacket[]>(
    'SELECT INDEX_NAME AS i FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
    [name],
  );
  const indexes = new Set(idx.map((r) => String(r.i)));
  if (!indexes.has('idx_fanned_out')) adds.push('ADD KEY `idx_fanned_out` (`fanned_out_at`, `id`)');
  if (!have.has('event_id')) adds.push('ADD UNIQUE KEY `uq_event_id` (`event_id`)');
  if (adds.length === 0) return;
  log.info('adopting existing outbox table', { table: name, changes: adds });
  await conn.query(`ALTER TABLE ${tables.outbox} ${adds.join(', ')}`);
}
