/**
 * {prefix}webhook_admin (the password hash), {prefix}webhook_admin_sessions
 * and {prefix}webhook_login_attempts.
 */
import type { Queryable } from './sql.js';
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
  userLabel: string | null;
  expiresAt: Date;
  lastSeenAt: Date;
}

export async function insertSession(
  conn: Queryable,
  t: Tables,
  idHash: string,
  csrf: string,
  userLabel: string,
  ttlSeconds: number,
): Promise<void> {
  await exec(
    conn,
    `INSERT INTO ${t.sessions} (id_hash, csrf_token, user_label, expires_at) VALUES (?, ?, ?, DATE_ADD(NOW(3), INTERVAL ? SECOND))`,
    [idHash, csrf, userLabel, ttlSeconds],
  );
}

export async function getSession(conn: Queryable, t: Tables, idHash: string): Promise<SessionRow | null> {
  const [r] = await rows(
    conn,
    `SELECT csrf_token, user_label, expires_at, last_seen_at FROM ${t.sessions} WHERE id_hash = ? AND expires_at > NOW(3)`,
    [idHash],
  );
  return r
    ? {
        csrfToken: String(r.csrf_token),
        userLabel: r.user_label === null ? null : String(r.user_label),
        expiresAt: toDate(r.expires_at)!,
        lastSeenAt: toDate(r.last_seen_at)!,
      }
    : null;
}

/** Slides the idle expiry; called at most once a minute per session. */
export async function touchSession(conn: Queryable, t: Tables, idHash: string, ttlSeconds: number): Promise<void> {
  await exec(
    conn,
    `UPDATE ${t.sessions} SET last_seen_at = NOW(3), expires_at = DATE_ADD(NOW(3), INTERVAL ? SECOND) WHERE id_hash = ?`,
    [ttlSeconds, idHash],
  );
}

export async function deleteSession(conn: Queryable, t: Tables, idHash: string): Promise<void> {
  await exec(conn, `DELETE FROM ${t.sessions} WHERE id_hash = ?`, [idHash]);
}

export async function deleteExpiredSessions(conn: Queryable, t: Tables): Promise<number> {
  return (await exec(conn, `DELETE FROM ${t.sessions} WHERE expires_at < NOW(3) LIMIT 1000`)).affectedRows;
}

/**
 * Counts one login try for `keyHash` and returns the count in the current
 * window, in one statement: the row lock orders parallel tries, and
 * LAST_INSERT_ID(expr) hands this statement's own count back in its OK packet
 * (insertId), so no second read can see another try's count. Assignments in
 * ON DUPLICATE KEY UPDATE run left to right: tries reads the old window.
 */
export async function countLoginTry(
  conn: Queryable,
  t: Tables,
  keyHash: string,
  windowSeconds: number,
): Promise<{ tries: number }> {
  const r = await exec(
    conn,
    `INSERT INTO ${t.loginAttempts} (key_hash, tries, window_started_at) VALUES (?, LAST_INSERT_ID(1), NOW(3))
     ON DUPLICATE KEY UPDATE
       tries = LAST_INSERT_ID(IF(window_started_at < NOW(3) - INTERVAL ? SECOND, 1, tries + 1)),
       window_started_at = IF(window_started_at < NOW(3) - INTERVAL ? SECOND, NOW(3), window_started_at)`,
    [keyHash, windowSeconds, windowSeconds],
  );
  return { tries: Number(r.insertId) };
}

/** Seconds until the window of `keyHash` ends (0 when none is open). */
export async function loginWindowLeftSeconds(
  conn: Queryable,
  t: Tables,
  keyHash: string,
  windowSeconds: number,
): Promise<number> {
  const [r] = await rows(
    conn,
    `SELECT GREATEST(0, ? - TIMESTAMPDIFF(SECOND, window_started_at, NOW(3))) AS left_s FROM ${t.loginAttempts} WHERE key_hash = ?`,
    [windowSeconds, keyHash],
  );
  return r ? Number(r.left_s) : 0;
}

export async function clearLoginTries(conn: Queryable, t: Tables, keyHash: string): Promise<void> {
  await exec(conn, `DELETE FROM ${t.loginAttempts} WHERE key_hash = ?`, [keyHash]);
}

export async function deleteOldLoginTries(conn: Queryable, t: Tables, windowSeconds: number): Promise<void> {
  await exec(conn, `DELETE FROM ${t.loginAttempts} WHERE window_started_at < NOW(3) - INTERVAL ? SECOND LIMIT 1000`, [
    windowSeconds,
  ]);
}
