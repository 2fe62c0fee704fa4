/**
 * A WordPress multisite network's own tables, read only: `{base}blogs` (its
 * sites), `{base}sitemeta` (the network's super administrators) and
 * `{base}usermeta` (each user's roles on each site). The one thing written is
 * the dropping of our tables for a site WordPress itself has deleted.
 */
import { unserialize } from 'php-serialize';
import type { Queryable } from './sql.js';
import { exec, rows } from './sql.js';
import { tableNames, type Tables } from './tables.js';

export interface Blog {
  blogId: number;
  domain: string;
  path: string;
  archived: boolean;
  deleted: boolean;
  spam: boolean;
}

const PREFIX_RE = /^[A-Za-z0-9_]{1,40}$/;

function checkedPrefix(base: string): string {
  if (!PREFIX_RE.test(base)) throw new Error(`unsafe table prefix ${JSON.stringify(base)}`);
  return base;
}

/** A site's table prefix, as WordPress's $wpdb->get_blog_prefix() makes it: the base for the main site, `{base}{id}_` for the others. */
export function sitePrefix(base: string, blogId: number): string {
  return blogId === 1 ? checkedPrefix(base) : `${checkedPrefix(base)}${blogId}_`;
}

/** Every site of the network, with the flags that decide whether it is served. */
export async function listBlogs(conn: Queryable, base: string): Promise<Blog[]> {
  const r = await rows(
    conn,
    `SELECT blog_id, domain, path, archived, deleted, spam FROM \`${checkedPrefix(base)}blogs\` ORDER BY blog_id`,
  );
  return r.map((x) => ({
    blogId: Number(x.blog_id),
    domain: String(x.domain),
    path: String(x.path),
    archived: Number(x.archived) !== 0,
    deleted: Number(x.deleted) !== 0,
    spam: Number(x.spam) !== 0,
  }));
}

/** PHP-serialized list values (site_admins is `a:1:{i:0;s:5:"admin";}`); [] for anything else. */
function phpList(text: unknown): string[] {
  if (typeof text !== 'string' || !text) return [];
  try {
    const v: unknown = unserialize(text, {}, { strict: false });
    return v !== null && typeof v === 'object' ? Object.values(v).map(String) : [];
  } catch {
    return [];
  }
}

/** The logins of the network's super administrators (`site_admins` in `{base}sitemeta`, every network of the install). */
export async function superAdminLogins(conn: Queryable, base: string): Promise<Set<string>> {
  const r = await rows(
    conn,
    `SELECT meta_value FROM \`${checkedPrefix(base)}sitemeta\` WHERE meta_key = 'site_admins'`,
  );
  return new Set(r.flatMap((x) => phpList(x.meta_value)));
}

/** Whether a table of this name exists in the current database. */
export async function tableExists(conn: Queryable, name: string): Promise<boolean> {
  const r = await rows(
    conn,
    'SELECT 1 AS x FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ? LIMIT 1',
    [name],
  );
  return r.length > 0;
}

/** Our tables of one site, and only ours (`{site prefix}webhook_…`): never WordPress's, whatever Tables names. */
export function ownTableNames(t: Tables): string[] {
  const ours = `\`${t.prefix}webhook_`;
  return Object.values(t).filter((v): v is string => typeof v === 'string' && v.startsWith(ours));
}

/** Drops our tables of a site WordPress has deleted (its own tables are gone): nothing of the site is left behind. */
export async function dropSiteTables(conn: Queryable, t: Tables): Promise<number> {
  const names = ownTableNames(t);
  await exec(conn, `DROP TABLE IF EXISTS ${names.join(', ')}`);
  return names.length;
}

/** Network sites' tables, users and options under the base prefix as WordPress keeps them. */
export function siteTables(base: string, blogId: number, url?: string): Tables {
  const t = tableNames(sitePrefix(base, blogId), base);
  return url === undefined ? t : { ...t, site: { id: blogId, url } };
}

/**
 * Every site of the network that has our tables, served or not (an archived
 * site's secrets are rotated too): what the command-line tools act on.
 */
export async function sitesWithTables(pool: Queryable, base: string): Promise<{ blogId: number; tables: Tables }[]> {
  const out: { blogId: number; tables: Tables }[] = [];
  for (const b of await listBlogs(pool, base)) {
    const tables = siteTables(base, b.blogId);
    if (await tableExists(pool, `${tables.prefix}webhook_endpoints`)) out.push({ blogId: b.blogId, tables });
  }
  return out;
}
