/**
 * Sikshya capture in the database: what is there (Sikshya's tables and the
 * columns the triggers read, our triggers and whether each is the one this
 * version would install), installing or upgrading them, and removing them
 * (Sikshya's own tables and rows are never touched). Privilege errors come
 * back as one line saying what a database administrator must grant or set.
 */
import type { Pool } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import { rows } from '../db/sql.js';
import { outboxHasOrderingKey } from '../db/outbox.js';
import { SIKSHYA_COLUMNS, sikshyaTriggers, type TriggerSpec } from './sikshya.js';

export type TriggerState = 'installed' | 'outdated' | 'missing';

export interface CaptureStatus {
  /** Sikshya's tables are in this database (all of them). */
  sikshya: boolean;
  missingTables: string[];
  /** "sikshya_orders.total": a column the triggers read that Sikshya's table no longer has. */
  missingColumns: string[];
  triggers: { name: string; table: string; timing: string; state: TriggerState }[];
  /** One line per thing an operator should know, empty when capture is complete and current. */
  problems: string[];
}

/** The statement after FOR EACH ROW, whitespace folded: what the server keeps as the trigger's body. */
const bodyOf = (sql: string) =>
  sql
    .slice(sql.indexOf('FOR EACH ROW') + 'FOR EACH ROW'.length)
    .replace(/\s+/g, ' ')
    .trim();
const fold = (s: string) => s.replace(/\s+/g, ' ').trim();

async function tableExists(pool: Pool, name: string): Promise<boolean> {
  const r = await rows(
    pool,
    'SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
    [name],
  );
  return r.length > 0;
}

function stateOf(installedBody: string | undefined, sql: string): TriggerState {
  if (installedBody === undefined) return 'missing';
  return installedBody === bodyOf(sql) ? 'installed' : 'outdated';
}

async function specs(pool: Pool, t: Tables): Promise<TriggerSpec[]> {
  return sikshyaTriggers({ prefix: t.prefix, orderingKey: await outboxHasOrderingKey(pool, t) });
}

export async function captureStatus(pool: Pool, t: Tables): Promise<CaptureStatus> {
  const wanted = Object.keys(SIKSHYA_COLUMNS).map((x) => `${t.prefix}${x}`);
  const cols = await rows(
    pool,
    `SELECT TABLE_NAME AS t, COLUMN_NAME AS c FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?)`,
    [wanted],
  );
  const have = new Map<string, Set<string>>();
  for (const x of cols) {
    const table = String(x.t).slice(t.prefix.length);
    have.set(table, (have.get(table) ?? new Set()).add(String(x.c).toLowerCase()));
  }
  const missingTables = Object.keys(SIKSHYA_COLUMNS).filter((x) => !have.has(x));
  const missingColumns = Object.entries(SIKSHYA_COLUMNS).flatMap(([table, columns]) =>
    have.has(table) ? columns.filter((c) => !have.get(table)!.has(c)).map((c) => `${table}.${c}`) : [],
  );
  const installed = new Map(
    (
      await rows(
        pool,
        `SELECT TRIGGER_NAME AS n, ACTION_STATEMENT AS s FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE ?`,
        [`${t.prefix.replace(/_/g, '\\_')}webhook\\_sikshya\\_%`],
      )
    ).map((x) => [String(x.n), fold(String(x.s))]),
  );
  const triggers = (await specs(pool, t)).map((s) => ({
    name: s.name,
    table: s.table,
    timing: s.timing,
    state: stateOf(installed.get(s.name), s.sql),
  }));
  const sikshya = missingTables.length === 0;
  const problems: string[] = [];
  if (missingColumns.length)
    problems.push(
      `Sikshya's tables no longer have ${missingColumns.join(', ')}: a Sikshya upgrade changed them, so its events are not captured correctly; the sidecar's capture needs an update`,
    );
  const anyInstalled = triggers.some((x) => x.state !== 'missing');
  if (anyInstalled && triggers.some((x) => x.state !== 'installed'))
    problems.push(
      `${triggers.filter((x) => x.state !== 'installed').length} of ${triggers.length} Sikshya capture triggers are missing or from another version: run npm run capture -- install`,
    );
  if (anyInstalled && !(await tableExists(pool, `${t.prefix}webhook_outbox`)))
    problems.push(
      `the outbox table ${t.prefix}webhook_outbox is missing: the capture triggers have nowhere to write, so Sikshya events are lost until the sidecar is started again (it creates the table)`,
    );
  if (anyInstalled && !sikshya)
    problems.push(`Sikshya capture triggers are installed but Sikshya's ${missingTables.join(', ')} are gone`);
  return { sikshya, missingTables, missingColumns, triggers, problems };
}

/**
 * Installs the triggers this version wants, replacing outdated ones
 * (each drop and create is quick; a write to that table between them is
 * not captured, so upgrade while the site is quiet).
 */
export async function installCapture(pool: Pool, t: Tables): Promise<CaptureStatus> {
  const before = await captureStatus(pool, t);
  if (!before.sikshya)
    throw new CaptureError(`Sikshya's tables are not in this database (missing ${before.missingTables.join(', ')})`);
  if (before.missingColumns.length) throw new CaptureError(before.problems[0]);
  const state = new Map(before.triggers.map((x) => [x.name, x.state]));
  for (const s of await specs(pool, t)) {
    if (state.get(s.name) === 'installed') continue;
    try {
      if (state.get(s.name) === 'outdated') await pool.query(`DROP TRIGGER IF EXISTS \`${s.name}\``);
      await pool.query(s.sql);
    } catch (err) {
      throw new CaptureError(privilegeProblem(err) ?? `installing ${s.name} failed: ${(err as Error).message}`);
    }
  }
  return captureStatus(pool, t);
}

/** Drops every trigger of ours on Sikshya's tables; Sikshya itself is left as it was. */
export async function removeCapture(pool: Pool, t: Tables): Promise<number> {
  const names = (
    await rows(
      pool,
      `SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE ?`,
      [`${t.prefix.replace(/_/g, '\\_')}webhook\\_sikshya\\_%`],
    )
  ).map((x) => String(x.n));
  for (const n of names) {
    try {
      await pool.query(`DROP TRIGGER IF EXISTS \`${n}\``);
    } catch (err) {
      throw new CaptureError(privilegeProblem(err) ?? `removing ${n} failed: ${(err as Error).message}`);
    }
  }
  return names.length;
}

export class CaptureError extends Error {
  override name = 'CaptureError';
}

/** What a database administrator must grant or set, in one line, for the errors that mean a missing privilege. */
export function privilegeProblem(err: unknown): string | null {
  const e = err as { errno?: number; message?: string };
  if (e.errno === 1142 || e.errno === 1227 || /TRIGGER command denied/i.test(e.message ?? ''))
    return "the database user may not create triggers: a database administrator must run GRANT TRIGGER ON `<database>`.* TO '<user>'@'<host>' (the sidecar's DATABASE_URL user)";
  if (e.errno === 1419)
    return 'binary logging is on and the database user has no SUPER privilege: a database administrator must SET GLOBAL log_bin_trust_function_creators = 1 (and set it in the server configuration to keep it), or install the triggers once as a user with SUPER';
  return null;
}

/**
 * At start: brings installed triggers up to this version, and when a
 * Sikshya upgrade removed a column they read, drops the triggers on that
 * table (so no Sikshya write can ever trip on one) and says which column.
 * Never stops the start: capture is beside delivery, not in its way.
 */
export async function checkCaptureAtStart(
  pool: Pool,
  t: Tables,
  log: {
    info(m: string, f?: Record<string, unknown>): void;
    warn(m: string, f?: Record<string, unknown>): void;
    error(m: string, f?: Record<string, unknown>): void;
  },
): Promise<void> {
  try {
    const s = await captureStatus(pool, t);
    const installed = s.triggers.filter((x) => x.state !== 'missing');
    if (s.missingColumns.length) {
      const tables = new Set(s.missingColumns.map((c) => c.split('.')[0]!));
      for (const x of installed.filter((x) => tables.has(x.table)))
        await pool.query(`DROP TRIGGER IF EXISTS \`${x.name}\``);
      log.error(
        `Sikshya capture: ${s.problems[0]}; the capture triggers on ${[...tables].join(', ')} were removed so Sikshya's writes cannot fail`,
        { missing_columns: s.missingColumns },
      );
      return;
    }
    if (s.sikshya && installed.length === 0) {
      log.info(
        'Sikshya is installed in this database; run npm run capture -- install (or the admin Capture page) to send its events',
      );
      return;
    }
    if (installed.length > 0 && s.triggers.some((x) => x.state !== 'installed')) {
      const after = await installCapture(pool, t);
      log.info('Sikshya capture triggers brought up to this version', { triggers: after.triggers.length });
    }
  } catch (err) {
    log.warn(`Sikshya capture check failed: ${(err as Error).message}`);
  }
}
