/**
 * Small helpers shared by the per-table SQL modules.
 */
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Queryable } from './pool.js';

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
export function valuesTable(columns: readonly string[], data: readonly unknown[][]): { sql: string; params: unknown[] } {
  const first = `SELECT ${columns.map((c) => `? AS \`${c}\``).join(', ')}`;
  const rest = `SELECT ${columns.map(() => '?').join(', ')}`;
  const sql = data.map((_, i) => (i === 0 ? first : rest)).join(' UNION ALL ');
  return { sql: `(${sql})`, params: data.flat() };
}

export function toDate(v: unknown): Date | null {
  if (v === null || v === undefined) return null;
  return v instanceof Date ? v : new Date(String(v));
}

export function parseJsonColumn<T>(v: unknown, fallback: T): T {
  if (v === null || v === undefined) return fallback;
  try {
    return JSON.parse(String(v)) as T;
  } catch {
    return fallback;
  }
}
