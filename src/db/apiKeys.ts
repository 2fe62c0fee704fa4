/**
 * {prefix}webhook_api_keys: keys are stored as a SHA-256 hex digest and a
 * hint; the key itself is shown once, when it is made.
 */
import type { Queryable } from './sql.js';
import type { Tables } from './tables.js';
import { exec, rows, toDate, type Row } from './sql.js';

export interface ApiKey {
  id: number;
  name: string;
  scope: string;
  hint: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

const COLUMNS = 'id, name, scope, key_hint, created_at, last_used_at, revoked_at';

function map(x: Row): ApiKey {
  return {
    id: Number(x.id),
    name: String(x.name),
    scope: String(x.scope),
    hint: String(x.key_hint),
    createdAt: toDate(x.created_at)!,
    lastUsedAt: toDate(x.last_used_at),
    revokedAt: toDate(x.revoked_at),
  };
}

export async function insertApiKey(
  conn: Queryable,
  t: Tables,
  k: { name: string; scope: string; hash: string; hint: string },
): Promise<number> {
  const r = await exec(conn, `INSERT INTO ${t.apiKeys} (name, scope, key_hash, key_hint) VALUES (?, ?, ?, ?)`, [
    k.name,
    k.scope,
    k.hash,
    k.hint,
  ]);
  return r.insertId;
}

export async function listApiKeys(conn: Queryable, t: Tables): Promise<ApiKey[]> {
  return (await rows(conn, `SELECT ${COLUMNS} FROM ${t.apiKeys} ORDER BY revoked_at IS NOT NULL, id DESC`)).map(map);
}

export async function getApiKey(conn: Queryable, t: Tables, id: number): Promise<ApiKey | null> {
  const [r] = await rows(conn, `SELECT ${COLUMNS} FROM ${t.apiKeys} WHERE id = ?`, [id]);
  return r ? map(r) : null;
}

export async function findApiKeyByHash(conn: Queryable, t: Tables, hash: string): Promise<ApiKey | null> {
  const [r] = await rows(conn, `SELECT ${COLUMNS} FROM ${t.apiKeys} WHERE key_hash = ?`, [hash]);
  return r ? map(r) : null;
}

/** Written at most once a minute per key, so a busy Zap does not make every request a write. */
export async function touchApiKey(conn: Queryable, t: Tables, id: number): Promise<void> {
  await exec(
    conn,
    `UPDATE ${t.apiKeys} SET last_used_at = NOW(3)
      WHERE id = ? AND (last_used_at IS NULL OR last_used_at < NOW(3) - INTERVAL 60 SECOND)`,
    [id],
  );
}

export async function revokeApiKey(conn: Queryable, t: Tables, id: number): Promise<boolean> {
  const r = await exec(conn, `UPDATE ${t.apiKeys} SET revoked_at = NOW(3) WHERE id = ? AND revoked_at IS NULL`, [id]);
  return r.affectedRows > 0;
}
