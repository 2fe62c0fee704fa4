/**
 * {prefix}webhook_admin (the password hash) and {prefix}webhook_admin_sessions.
 */
import type { Queryable } from './pool.js';
import type { Tables } from './tables.js';
import { exec, rows, toDate } from './sql.js';

export async function getPasswordHash(conn: Queryable, t: Tables): Promise<string | null> {
  const [r] = await rows(conn, `SELECT password_hash FROM ${t.admin} WHERE id = 1`);
  return r ? String(r.password_hash) : null;
}

/** Stores the first password hash; false when another process stored one first. */
export async function insertPasswordHash(conn: Queryable, t: Tables, hash: string): Promise<boolean> {
  const r = await exec(conn, `INSERT IGNORE INTO ${t.admin} (id, password_hash) VALUES (1, ?)`, [hash]);
  return r.affectedRows === 1;
}

export interface SessionRow {
  csrfToken: string;
  expiresAt: Date;
  lastSeenAt: Date;
}

export async function insertSession(conn: Queryable, t: Tables, idHash: string, csrf: string, ttlSeconds: number): Promise<void> {
  await exec(conn, `INSERT INTO ${t.sessions} (id_hash, csrf_token, expires_at) VALUES (?, ?, DATE_ADD(NOW(3), INTERVAL ? SECOND))`, [idHash, csrf, ttlSeconds]);
}

export async function getSession(conn: Queryable, t: Tables, idHash: string): Promise<SessionRow | null> {
  const [r] = await rows(conn, `SELECT csrf_token, expires_at, last_seen_at FROM ${t.sessions} WHERE id_hash = ? AND expires_at > NOW(3)`, [idHash]);
  return r ? { csrfToken: String(r.csrf_token), expiresAt: toDate(r.expires_at)!, lastSeenAt: toDate(r.last_seen_at)! } : null;
}

/** Slides the idle expiry; called at most once a minute per session. */
export async function touchSession(conn: Queryable, t: Tables, idHash: string, ttlSeconds: number): Promise<void> {
  await exec(conn, `UPDATE ${t.sessions} SET last_seen_at = NOW(3), expires_at = DATE_ADD(NOW(3), INTERVAL ? SECOND) WHERE id_hash = ?`, [ttlSeconds, idHash]);
}

export async function deleteSession(conn: Queryable, t: Tables, idHash: string): Promise<void> {
  await exec(conn, `DELETE FROM ${t.sessions} WHERE id_hash = ?`, [idHash]);
}

export async function deleteExpiredSessions(conn: Queryable, t: Tables): Promise<number> {
  return (await exec(conn, `DELETE FROM ${t.sessions} WHERE expires_at < NOW(3) LIMIT 1000`)).affectedRows;
}
