/**
 * Who may see which site of a network. The sidecar's own admin password and
 * the network's super administrators (`site_admins` in `{base}sitemeta`) see
 * every site; a WordPress user who can manage_options on a site sees that
 * site (roles per site, as WordPress keeps them: `{base}usermeta`
 * `{site prefix}capabilities` against the site's `{site prefix}user_roles`).
 * Read at most every 30 s per user, so a role taken away stops working soon
 * without a query per page.
 */
import type { Pool } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import { superAdminLogins } from '../db/network.js';
import { rows } from '../db/sql.js';
import { getOptions } from '../db/wordpress.js';
import { canManageOptions, checkWordPressUser, wordpressLoginOf } from '../wordpress/admins.js';
import type { SiteRegistry } from './registry.js';

const ACCESS_TTL_MS = 30_000;

export interface SiteAccess {
  /** Sees every site, the network overview and may make network-wide API keys. */
  superAdmin: boolean;
  /** The served sites this user administers (every served site for a super administrator). */
  blogIds: ReadonlySet<number>;
}

export interface NetworkAccess {
  sites: SiteRegistry;
  /** What the signed-in user (a session's label) may see. */
  accessOf(userLabel: string): Promise<SiteAccess>;
  /** The WordPress login these credentials sign in: a super administrator or an administrator of a served site. */
  checkWordPressLogin(name: string, password: string): Promise<string | null>;
}

export function createNetworkAccess(pool: Pool, base: Tables, sites: SiteRegistry): NetworkAccess {
  const cache = new Map<string, { at: number; access: Promise<SiteAccess> }>();
  const everySite = (): SiteAccess => ({ superAdmin: true, blogIds: new Set(sites.served().map((s) => s.blogId)) });

  async function accessOfLogin(login: string): Promise<SiteAccess> {
    if ((await superAdminLogins(pool, base.prefix)).has(login)) return everySite();
    const caps = new Map(
      (
        await rows(
          pool,
          `SELECT m.meta_key, m.meta_value FROM ${base.wpUsermeta} m JOIN ${base.wpUsers} u ON u.ID = m.user_id
            WHERE u.user_login = ? AND m.meta_key LIKE '%capabilities'`,
          [login],
        )
      ).map((r) => [String(r.meta_key), String(r.meta_value)]),
    );
    const blogIds = new Set<number>();
    for (const s of sites.served()) {
      const key = `${s.tables.prefix}capabilities`;
      if (!caps.has(key)) continue;
      const roles = (await getOptions(pool, s.tables, [`${s.tables.prefix}user_roles`])).get(
        `${s.tables.prefix}user_roles`,
      );
      if (canManageOptions(caps.get(key) ?? null, roles)) blogIds.add(s.blogId);
    }
    return { superAdmin: false, blogIds };
  }

  return {
    sites,
    async accessOf(userLabel) {
      const login = wordpressLoginOf(userLabel);
      if (login === null) return everySite();
      const hit = cache.get(login);
      if (hit && Date.now() - hit.at < ACCESS_TTL_MS) return hit.access;
      const access = accessOfLogin(login);
      cache.set(login, { at: Date.now(), access });
      access.catch(() => cache.delete(login));
      if (cache.size > 1000) cache.clear();
      return access;
    },
    async checkWordPressLogin(name, password) {
      const user = await checkWordPressUser(pool, base, name, password);
      if (!user) return null;
      const access = await accessOfLogin(user.login);
      cache.set(user.login, { at: Date.now(), access: Promise.resolve(access) });
      return access.superAdmin || access.blogIds.size > 0 ? user.login : null;
    },
  };
}
