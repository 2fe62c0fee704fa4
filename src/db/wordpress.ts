/**
 * WordPress's own tables, read only: {prefix}users and {prefix}usermeta for
 * the administrators who may sign in, {prefix}options for the site's time
 * zone and admin e-mail. Every function answers "nothing" when the tables are
 * not there (a sidecar beside an LMS that is not WordPress).
 */
import type { Queryable } from './sql.js';
import type { Tables } from './tables.js';
import { rows } from './sql.js';

const MISSING_TABLE = new Set(['ER_NO_SUCH_TABLE', 'ER_BAD_FIELD_ERROR']);

async function orNothing<T>(fn: () => Promise<T>, nothing: T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (MISSING_TABLE.has((err as { code?: string }).code ?? '')) return nothing;
    throw err;
  }
}

export interface WpUser {
  id: number;
  login: string;
  passwordHash: string;
  /** The serialized {prefix}capabilities meta: role (or capability) → granted. */
  capabilities: string | null;
}

/** The user whose login or e-mail is `name` (a login match first, as wp_authenticate does). */
export async function findUser(conn: Queryable, t: Tables, name: string): Promise<WpUser | null> {
  return orNothing(async () => {
    const r = await rows(
      conn,
      `SELECT u.ID AS id, u.user_login, u.user_pass, m.meta_value AS caps
         FROM ${t.wpUsers} u
         LEFT JOIN ${t.wpUsermeta} m ON m.user_id = u.ID AND m.meta_key = ?
        WHERE u.user_login = ? OR u.user_email = ?
        ORDER BY u.user_login = ? DESC, u.ID
        LIMIT 1`,
      [`${t.prefix}capabilities`, name, name, name],
    );
    const x = r[0];
    return x
      ? {
          id: Number(x.id),
          login: String(x.user_login),
          passwordHash: String(x.user_pass),
          capabilities: x.caps === null ? null : String(x.caps),
        }
      : null;
  }, null);
}

/** The password hash of the site's first user (lowest ID), or null when there is none. */
export async function firstPasswordHash(conn: Queryable, t: Tables): Promise<string | null> {
  return orNothing(async () => {
    const r = await rows(conn, `SELECT user_pass FROM ${t.wpUsers} ORDER BY ID LIMIT 1`);
    return r[0] ? String(r[0].user_pass) : null;
  }, null);
}

/** Values of the named options that exist. */
export async function getOptions(conn: Queryable, t: Tables, names: string[]): Promise<Map<string, string>> {
  return orNothing(async () => {
    const r = await rows(conn, `SELECT option_name, option_value FROM ${t.wpOptions} WHERE option_name IN (?)`, [
      names,
    ]);
    return new Map(r.map((x) => [String(x.option_name), String(x.option_value)]));
  }, new Map<string, string>());
}
