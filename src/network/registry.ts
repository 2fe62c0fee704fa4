/**
 * The sites of a WordPress network this sidecar serves, read from
 * `{base}blogs` at start and every minute. Each served site gets its own set
 * of our tables under its own prefix (`wp_2_webhook_*`), where its LMS
 * snippet already writes `$wpdb->prefix . 'webhook_outbox'`, and its own
 * delivery loop (siteRuntime.ts): a site's backlog is claimed by its own
 * loop, so another site's events wait for nothing but their own claim cycle.
 *
 * Archived, deleted (flagged) and spam sites are left alone, and the log says
 * so once; their tables stay, so a site brought back resumes where it was.
 * A site WordPress has removed (no `{base}blogs` row and no `{prefix}options`
 * table left) has our tables dropped too, so nothing of it stays behind.
 */
import type { Pool } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import { dropSiteTables, listBlogs, siteTables, tableExists, type Blog } from '../db/network.js';
import { rows } from '../db/sql.js';
import { getOptions } from '../db/wordpress.js';
import { coerceError, ConfigError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { KEY_PREFIX } from '../manage/apiKeyOps.js';
import { createNetworkPace } from '../delivery/networkPace.js';
import { prepareSiteTables, startSite, SITE_PROBE_MS, type SharedParts, type SiteRuntime } from '../siteRuntime.js';

/** New sites are picked up, and removed ones let go, within this. */
export const SITE_REFRESH_MS = 60_000;
/** Outbox probes per second over the whole network when idle, at most (each site's probe slows as sites grow). */
const NETWORK_PROBES_PER_SECOND = 25;

export interface ServedSite extends SiteRuntime {
  blogId: number;
  url: string;
}

/** A site of the network that is not served, and why. */
export interface SiteLeftAlone {
  blogId: number;
  url: string;
  reason: string;
}

export interface SiteRegistry {
  /** The served site with this blog id, or null. */
  get(blogId: number): ServedSite | null;
  served(): ServedSite[];
  leftAlone(): SiteLeftAlone[];
  /** Reads `{base}blogs` again: starts new sites, stops those no longer served, clears up deleted ones. */
  refresh(): Promise<void>;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  shared: SharedParts;
  basePrefix: string;
  metrics: Metrics;
  loop: boolean;
  refreshMs?: number;
  /** The prefix whose tables the start already prepared (the main site's). */
  prepared?: string;
}

/** Why a site is not served, or null when it is. */
function notServedBecause(b: Blog): string | null {
  const flags = [b.archived && 'archived', b.deleted && 'deleted', b.spam && 'spam'].filter(Boolean);
  return flags.length ? `${flags.join(', ')} in WordPress` : null;
}

export async function createSiteRegistry(opts: RegistryOptions): Promise<SiteRegistry> {
  const { shared, basePrefix: base } = opts;
  const { pool, log } = shared;
  const sites = new Map<number, ServedSite>();
  const left = new Map<number, SiteLeftAlone>();
  let refreshing: Promise<void> | null = null;
  let stopped = false;
  // Set once the first read of the sites succeeded; stop() may run before (a start that fails).
  let timer: NodeJS.Timeout | undefined = undefined;
  // The main site's pace is the network's: every site writes to the same database.
  const pace = createNetworkPace(() => sites.get(1)?.settings.current().maxDeliveriesPerSecond ?? 0);

  async function start(b: Blog, blogCount: number): Promise<void> {
    const bare = siteTables(base, b.blogId);
    if (!(await tableExists(pool, `${bare.prefix}options`))) {
      noteLeft(b, 'its WordPress tables are not there yet');
      return;
    }
    const url = await siteUrl(pool, bare, b);
    const tables = siteTables(base, b.blogId, url);
    if (tables.prefix !== opts.prepared) await prepareSiteTables(pool, tables, shared.secrets, log);
    const runtime = await startSite(shared, {
      blogId: b.blogId,
      tables,
      observer: opts.metrics.forSite(b.blogId),
      base: `/sites/${b.blogId}`,
      keyPrefix: b.blogId === 1 ? KEY_PREFIX : `${KEY_PREFIX}s${b.blogId}_`,
      networkKeys: b.blogId === 1,
      pace: pace.forSite(b.blogId),
      loop: opts.loop,
      probeMs: Math.min(1000, Math.max(SITE_PROBE_MS, Math.ceil((1000 * blogCount) / NETWORK_PROBES_PER_SECOND))),
    });
    sites.set(b.blogId, { ...runtime, blogId: b.blogId, url });
    left.delete(b.blogId);
    log.info('serving a site of the network', { blog_id: b.blogId, url, table_prefix: tables.prefix });
  }

  function noteLeft(b: Blog, reason: string): void {
    if (left.get(b.blogId)?.reason === reason) return;
    left.set(b.blogId, { blogId: b.blogId, url: `//${b.domain}${b.path}`, reason });
    log.info('a site of the network is left alone', { blog_id: b.blogId, reason });
  }

  async function letGo(blogId: number, why: string): Promise<void> {
    const s = sites.get(blogId);
    if (!s) return;
    sites.delete(blogId);
    await s.stop();
    log.info('stopped serving a site of the network', { blog_id: blogId, reason: why });
  }

  /** Our tables of sites whose row is gone and whose WordPress tables WordPress dropped. */
  async function clearDeleted(blogIds: Set<number>): Promise<void> {
    const r = await rows(
      pool,
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE '%webhook\\_migrations'",
    );
    const re = new RegExp(`^${base}(\\d+)_webhook_migrations$`);
    for (const { name } of r) {
      const id = Number(re.exec(String(name))?.[1] ?? NaN);
      if (!Number.isInteger(id) || id <= 1 || blogIds.has(id)) continue;
      const t = siteTables(base, id);
      if (await tableExists(pool, `${t.prefix}options`)) continue;
      const dropped = await dropSiteTables(pool, t);
      log.info('a site was deleted from the network: dropped its webhook tables', {
        blog_id: id,
        table_prefix: t.prefix,
        tables: dropped,
      });
    }
  }

  async function refreshOnce(): Promise<void> {
    const blogs = await listBlogs(pool, base);
    const ids = new Set(blogs.map((b) => b.blogId));
    for (const b of blogs) {
      if (stopped) return;
      const reason = notServedBecause(b);
      if (reason) {
        await letGo(b.blogId, reason);
        noteLeft(b, reason);
      } else if (!sites.has(b.blogId)) {
        try {
          await start(b, blogs.length);
        } catch (err) {
          log.error('could not start serving a site; tried again at the next look at the network', {
            blog_id: b.blogId,
            error: coerceError(err).message,
          });
        }
      }
    }
    for (const id of [...sites.keys()]) if (!ids.has(id)) await letGo(id, 'removed from the network');
    for (const id of [...left.keys()]) if (!ids.has(id)) left.delete(id);
    await clearDeleted(ids);
  }

  const registry: SiteRegistry = {
    get: (blogId) => sites.get(blogId) ?? null,
    served: () => [...sites.values()].sort((a, b) => a.blogId - b.blogId),
    leftAlone: () => [...left.values()].sort((a, b) => a.blogId - b.blogId),
    refresh() {
      refreshing ??= refreshOnce().finally(() => (refreshing = null));
      return refreshing;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await refreshing?.catch(() => undefined);
      await Promise.all([...sites.values()].map((s) => s.stop()));
    },
  };
  try {
    await registry.refresh();
  } catch (err) {
    await registry.stop();
    if ((err as { code?: string }).code === 'ER_NO_SUCH_TABLE' && !(await tableExists(pool, `${base}blogs`)))
      throw new ConfigError(
        'NETWORK',
        `NETWORK is on but ${base}blogs does not exist: this database holds no WordPress network whose tables start with ${base}. Set TABLE_PREFIX to the network's base prefix, or NETWORK=false to serve one site`,
        { cause: err },
      );
    throw err;
  }
  timer = setInterval(() => {
    registry.refresh().catch((err: unknown) =>
      log.warn('could not read the network’s sites; the sites served so far go on', {
        error: coerceError(err).message,
      }),
    );
  }, opts.refreshMs ?? SITE_REFRESH_MS);
  timer.unref();
  return registry;
}

/** The site's address as WordPress gives it (`siteurl`, else `home`), else built from its domain and path. */
async function siteUrl(pool: Pool, t: Tables, b: Blog): Promise<string> {
  const o = await getOptions(pool, t, ['siteurl', 'home']);
  return (o.get('siteurl') || o.get('home') || `http://${b.domain}${b.path}`).replace(/\/+$/, '');
}
