/**
 * Small helpers shared by the per-table SQL modules.
 */
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { asText } from '../text.js';

/** A pool or one of its connections (inside a transaction): every helper here takes either. */
export type Queryable = Pool | PoolConnection;

export type Row = RowDataPacket;

export async function rows<T = Row>(conn: Queryable, sql: string, params: unknown[] = []): Promise<T[]> {
  const [r] = await conn.query<RowDataPacket[]>(sql, params);
  return r as unknown as T[];
}

export async function exec(conn: Queryable, sql: string, params: unknown[] = []): Promise<ResultSetHeader> {
  const [r] = await conn.query<ResultSetHeader>(sql, params);
  return r;
}

/**
 * A derived table of literal rows, `(SELECT ? AS a, ? AS b UNION ALL SELECT ?, ?) v`,
 * for multi-row UPDATE … JOIN. Portable across MySQL 8 and MariaDB, unlike
 * their two spellings of VALUES table constructors.
 */
export function valuesTable(
  columns: readonly string[],
  data: readonly unknown[][],
): { sql: string; params: unknown[] } {
  const first = `SELECT ${columns.map((c) => `? AS \`${c}\``).join(', ')}`;
  const rest = `SELECT ${columns.map(() => '?').join(', ')}`;
  const sql = data.map((_, i) => (i === 0 ? first : rest)).join(' UNION ALL ');
  return { sql: `(${sql})`, params: data.flat() };
}

export function toDate(v: unknown): Date | null {
  if (v === null || v === undefined) return null;
  return v instanceof Date ? v : new Date(asText(v));
}

/**
 * A DATETIME read as text (`CAST(col AS CHAR)`), taken as UTC. Null for NULL,
 * for MySQL's zero dates ('0000-00-00 …', '2024-01-00 …'), which a session
 * without NO_ZERO_DATE lets through and which mysql2 would turn into an
 * Invalid Date, and for anything else that is not a real calendar time.
 */
export function parseUtcDateTime(v: unknown): Date | null {
  if (v === null || v === undefined) return null;
  const m = /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/.exec(asText(v).trim());
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  const t = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  const back = new Date(t);
  // Date.UTC rolls 2024-02-30 over to March; a real date survives the round trip.
  if (
    y < 1 ||
    back.getUTCFullYear() !== y ||
    back.getUTCMonth() !== mo - 1 ||
    back.getUTCDate() !== d ||
    h > 23 ||
    mi > 59 ||
    s > 59
  )
    return null;
  return back;
}

export function parseJsonColumn<T>(v: unknown, fallback: T): T {
  if (v === null || v === undefined) return fallback;
  try {
    return JSON.parse(asText(v)) as T;
  } catch {
    return fallback;
  }
}

/** A LIKE pattern for "starts with `prefix`", its own %, _ and backslash taken literally (backslash is the default escape). */
export function likePrefix(prefix: string): string {
  return prefix.replace(/[\\%_]/g, '\\$&') + '%';
}

const budgets = new WeakMap<Queryable, number>();

/**
 * Bytes of values one statement may carry on this server: half its
 * max_allowed_packet (escaping can double text), less 64 KB for the rest of
 * the statement. Batches are cut to it, so a host still at MySQL 5.7's 4 MB
 * default never gets a statement it refuses, which would be refused again
 * on every retry. Read once per pool; a failed read is tried again next time.
 */
export async function statementBudget(pool: Queryable): Promise<number> {
  let b = budgets.get(pool);
  if (b === undefined) {
    const [r] = await rows(pool, 'SELECT @@max_allowed_packet AS p');
    b = Math.max(64 * 1024, Math.floor(Number(r!.p) / 2) - 64 * 1024);
    budgets.set(pool, b);
  }
  return b;
}
