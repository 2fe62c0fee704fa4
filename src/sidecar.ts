/**
 * The composition root: the only place real dependencies are built and wired.
 * main.ts calls startSidecar and handles signals; tests call it in-process.
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Pool } from 'mysql2/promise';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import { checkEngine } from './db/engine.js';
import type { Notifier } from './delivery/notifier.js';
import { createPool, currentHost, ensureDatabase } from './db/pool.js';
import { parseDatabaseUrl } from './db/databaseUrl.js';
import { tableNames, type Tables } from './db/tables.js';
import { createSender } from './delivery/send.js';
import { shownProxy } from './delivery/proxy.js';
import type { Dispatcher } from './delivery/dispatcher.js';
import type { Service } from './manage/service.js';
import { createApp } from './web/app.js';
import { createMetrics, type Metrics } from './metrics.js';
import { ConfigError } from './errors.js';
import { createSecretBox, type SecretBox } from './secrets.js';
import { createAdminAuth, ensureAdminPassword, LoginThrottle } from './manage/adminAccess.js';
import { prepareSiteTables, startSite, type SharedParts, type SiteRuntime } from './siteRuntime.js';
import { createSiteRegistry, type SiteRegistry } from './network/registry.js';
import { createNetworkAccess } from './network/access.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  name: string;
  version: string;
};
export const USER_AGENT = `${pkg.name}/${pkg.version}`;
export const VERSION = pkg.version;
/** A network's sites share one pool: claims, fan-out and recording of several sites at once. */
const NETWORK_POOL_SIZE = 20;

export interface Sidecar {
  pool: Pool;
  /** The site served (in a network, the main site's). */
  tables: Tables;
  dispatcher: Dispatcher;
  service: Service;
  /** Mails operational events when SMTP_URL is set. */
  notifier: Notifier | null;
  /** In network mode, the sites served; null when one site is. */
  sites: SiteRegistry | null;
  server: Server;
  /** http://host:port of the admin UI and API. */
  url: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Run the delivery loop (default true); tests of the web layer alone turn it off. */
  loop?: boolean;
  /** Where the generated admin password is printed, once (default: stdout, outside the JSON log). */
  print?: (line: string) => void;
  /** How often a network's sites are read again (default a minute); tests shorten it. */
  siteRefreshMs?: number;
}

export async function startSidecar(config: Config, log: Logger, opts: StartOptions = {}): Promise<Sidecar> {
  for (const note of config.notes) log.info(note);
  const secrets = secretBoxOf(config);
  const { pool, tables } = await openDatabase(config, log, secrets);
  await ensureAdminPassword(
    pool,
    tables,
    config.adminPassword,
    opts.print ?? ((line) => process.stdout.write(line + '\n')),
  );
  const sender = createSender({
    allowPrivateTargets: config.allowPrivateTargets,
    maxSockets: config.concurrency * 2,
    proxy: config.proxy,
  });
  let adminBaseUrl = `http://${config.host}:${config.port}`;
  const shared: SharedParts = {
    pool,
    config,
    log,
    secrets,
    sender,
    userAgent: USER_AGENT,
    adminBaseUrl: () => adminBaseUrl,
  };
  let sites: SiteRegistry | null = null;
  let main: SiteRuntime;
  let metrics: Metrics;
  try {
    if (config.network) {
      let registry: SiteRegistry | null = null;
      metrics = createMetrics(pool, () => registry?.served() ?? [], true);
      registry = sites = await createSiteRegistry({
        shared,
        basePrefix: config.tablePrefix,
        metrics,
        prepared: config.tablePrefix,
        loop: opts.loop !== false,
        refreshMs: opts.siteRefreshMs,
      });
      const first = registry.get(1);
      if (!first)
        throw new ConfigError(
          'NETWORK',
          `NETWORK is on but the network's main site (blog 1 in ${config.tablePrefix}blogs) is not served: ${registry.leftAlone().find((s) => s.blogId === 1)?.reason ?? 'it is not in the table'}`,
        );
      main = first;
    } else {
      metrics = createMetrics(pool, () => [{ blogId: null, tables }]);
      main = await startSite(shared, { blogId: null, tables, observer: metrics, base: '', loop: opts.loop });
    }
  } catch (err) {
    await sites?.stop();
    sender.close();
    await pool.end();
    throw err;
  }
  const { dispatcher, service } = main;
  const network = sites ? createNetworkAccess(pool, tables, sites) : undefined;
  const auth = createAdminAuth(
    pool,
    tables,
    config.adminPassword,
    network ? (name, password) => network.checkWordPressLogin(name, password) : undefined,
  );
  const app = createApp({
    service,
    log,
    apiToken: config.apiToken,
    trustProxy: config.trustProxy,
    version: VERSION,
    metrics: metrics.registry,
    admin: {
      auth,
      throttle: new LoginThrottle(pool, tables),
      zones: main.zones,
    },
    network,
    health: {
      ping: async () => {
        await pool.query('SELECT 1');
      },
      lastTickAt: () => (opts.loop === false ? Date.now() : dispatcher.stats().lastTickAt),
      databaseHost: () => currentHost(pool),
    },
  });

  if (config.proxy.http || config.proxy.https)
    log.info('deliveries go through the egress proxy', {
      https_proxy: config.proxy.https ? shownProxy(config.proxy.https) : null,
      http_proxy: config.proxy.http ? shownProxy(config.proxy.http) : null,
      no_proxy: config.proxy.noProxy,
    });
  const { server, url } = await listen(app, config);
  adminBaseUrl = url;
  log.info('sidecar started', {
    url,
    worker: dispatcher.worker,
    table_prefix: config.tablePrefix,
    version: VERSION,
    ...(sites ? { sites_served: sites.served().map((s) => s.blogId) } : {}),
  });

  let stopped: Promise<void> | null = null;
  return {
    pool,
    tables,
    dispatcher,
    service,
    notifier: main.notifier,
    sites,
    server,
    url,
    stop() {
      stopped ??= (async () => {
        if (sites) await sites.stop();
        else await main.stop();
        await new Promise<void>((r) => server.close(() => r()));
        server.closeAllConnections();
        sender.close();
        await pool.end();
        log.info('sidecar stopped', { worker: dispatcher.worker });
      })();
      return stopped;
    },
  };
}

/** The key secrets are sealed with; none stops the start, naming the variable (never a fallback to plain text). */
function secretBoxOf(config: Config): SecretBox {
  const { current, previous, missing } = config.secrets;
  if (!current) throw new ConfigError(missing?.variable ?? 'SECRETS_KEY', missing?.message ?? 'SECRETS_KEY is not set');
  return createSecretBox(current, previous);
}

/** The pool on DATABASE_URL's hosts, the engine checked; closed again when that fails. */
async function openDatabase(config: Config, log: Logger, secrets: SecretBox): Promise<{ pool: Pool; tables: Tables }> {
  const target = parseDatabaseUrl(config.databaseUrl, config.databaseSocket);
  await ensureDatabase(target);
  // Connections: claims, fan-out, recording and the web layer each need one at a time;
  // a network's sites share one pool, a little wider.
  const pool = createPool(target, config.network ? NETWORK_POOL_SIZE : 10, {
    onSwitch: (from, to, reason) =>
      log.warn('database host unreachable; moved to the next host of DATABASE_URL', { from, to, reason }),
  });
  if (target.hosts.length > 1)
    log.info('DATABASE_URL names several hosts; using them in order, failing over on connection errors', {
      hosts: target.hosts.map((h) => `${h.host}:${h.port}`),
    });
  const tables = tableNames(config.tablePrefix);
  try {
    await checkEngine(pool, log);
    // In a network, the admin password and sessions live in the main site's tables, ready before any site starts.
    await prepareSiteTables(pool, tables, secrets, log);
  } catch (err) {
    await pool.end();
    throw err;
  }
  return { pool, tables };
}

/** The admin UI and API listening on HOST:PORT, with the URL they answer on. */
async function listen(app: ReturnType<typeof createApp>, config: Config): Promise<{ server: Server; url: string }> {
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.port, config.host, () => resolve(s));
    s.once('error', reject);
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return { server, url: `http://${host}:${addr.port}` };
}
