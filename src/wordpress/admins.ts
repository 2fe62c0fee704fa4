/**
 * Sign-in for the site's WordPress administrators: a user whose roles (or
 * own capabilities) grant manage_options, with the password WordPress
 * stored. Read only: nothing is written to WordPress's tables (WordPress
 * would rehash an old hash at its own next login; we leave that to it).
 */
import type { Pool } from 'mysql2/promise';
import { unserialize } from 'php-serialize';
import type { Tables } from '../db/tables.js';
import { findUser, firstPasswordHash, getOptions, type WpUser } from '../db/wordpress.js';
import { checkWordPressPassword, decoyHashLike } from './passwords.js';

/** A PHP-serialized array as a plain object; null for anything else (never throws). */
function phpArray(text: string | null | undefined): Record<string, unknown> | null {
  if (!text) return null;
  try {
    const v: unknown = unserialize(text, {}, { strict: false });
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const granted = (v: unknown) => v === true || v === 1 || v === '1';

/** Whether these user capabilities (roles and direct grants) include manage_options, given the site's roles. */
export function canManageOptions(userCaps: string | null, rolesOption: string | null | undefined): boolean {
  const caps = phpArray(userCaps);
  if (!caps) return false;
  if (granted(caps.manage_options)) return true;
  const roles = phpArray(rolesOption) ?? {};
  return Object.entries(caps).some(([role, on]) => {
    if (!granted(on)) return false;
    const def = roles[role] as { capabilities?: Record<string, unknown> } | undefined;
    return granted(def?.capabilities?.manage_options);
  });
}

/**
 * The WordPress login of an administrator whose user name or e-mail and
 * password these are, or null (unknown user, wrong password, or not an
 * administrator: the caller says the same thing for all three).
 */
export async function checkWordPressAdmin(
  pool: Pool,
  t: Tables,
  name: string,
  password: string,
): Promise<string | null> {
  const user = await checkWordPressUser(pool, t, name, password);
  if (!user) return null;
  const roles = (await getOptions(pool, t, [`${t.prefix}user_roles`])).get(`${t.prefix}user_roles`);
  return canManageOptions(user.capabilities, roles) ? user.login : null;
}

/** The WordPress user whose user name or e-mail and password these are, whatever their roles; or null. */
export async function checkWordPressUser(
  pool: Pool,
  t: Tables,
  name: string,
  password: string,
): Promise<WpUser | null> {
  const user = await findUser(pool, t, name.trim());
  if (!user) {
    // The same work as for a user who exists, so the answer's timing does not tell user names apart.
    await checkWordPressPassword(password, await decoyHash(pool, t));
    return null;
  }
  return (await checkWordPressPassword(password, user.passwordHash)) ? user : null;
}

/** The login a session's label names when a WordPress user signed in (`login (WordPress)`); null for the sidecar's admin. */
export const wordpressLoginOf = (label: string): string | null =>
  // WordPress logins cannot hold parentheses (sanitize_user), so the suffix is unambiguous.
  label.endsWith(' (WordPress)') ? label.slice(0, -' (WordPress)'.length) : null;

export const wordpressLabel = (login: string) => `${login} (WordPress)`;

const decoys = new WeakMap<Pool, Promise<string>>();

/** A hash of the kind and cost this site's first user has, of a password nobody knows; made once per pool. */
function decoyHash(pool: Pool, t: Tables): Promise<string> {
  let d = decoys.get(pool);
  if (!d) {
    d = firstPasswordHash(pool, t).then(decoyHashLike);
    decoys.set(pool, d);
    // A database error is tried again on the next sign-in, not kept.
    d.catch(() => decoys.delete(pool));
  }
  return d;
}
