/**
 * The composition root: the only place real dependencies are built and wired.
 * main.ts calls startSidecar and handles signals; tests call it in-process.
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import cron from 'node-cron';
import type { Pool } from 'mysql2/promise';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import { checkEngine } from './db/engine.js';
import { createNotifier, type Notifier } from './delivery/notifier.js';
import { createPool, currentHost, ensureDatabase } from './db/pool.js';
import { parseDatabaseUrl } from './db/databaseUrl.js';
import { tableNames, type Tables } from './db/tables.js';
import { migrate } from './db/migrate.js';
import { checkCaptureAtStart } from './capture/install.js';
import { createSender } from './delivery/send.js';
import { shownProxy } from './delivery/proxy.js';
import { createSettingsStore, type SettingsStore } from './delivery/settingsStore.js';
import { createDispatcher, type Dispatcher } from './delivery/dispatcher.js';
import { createService, type Service } from './manage/service.js';
import { createApp } from './web/app.js';
import { pruneOnce } from './delivery/retention.js';
import { createMetrics } from './metrics.js';
import { ConfigError, coerceError, isConnectionError } from './errors.js';
import { createSecretBox, type SecretBox } from './secrets.js';
import { sealSecrets } from './manage/secretOps.js';
import { createAdminAuth, ensureAdminPassword, LoginThrottle } from './manage/adminAccess.js';
import { createZoneSource } from './wordpress/timeZone.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  name: string;
  version: string;
};
export const USER_AGENT = `${pkg.name}/${pkg.version}`;
export const VERSION = pkg.version;
const POLL_MS = 200;
const ERASURE_MS = 5000;

export interface Sidecar {
  pool: Pool;
  tables: Tables;
  dispatcher: Dispatcher;
  service: Service;
  /** Mails operational events when SMTP_URL is set. */
  notifier: Notifier | null;
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
  const settings = createSettingsStore(pool, tables);
  await settings.refreshIfStale();
  const sender = createSender({
    allowPrivateTargets: config.allowPrivateTargets,
    maxSockets: config.concurrency * 2,
    proxy: config.proxy,
  });
  const metrics = createMetrics(pool, tables);
  let adminBaseUrl = `http://${config.host}:${config.port}`;
  const notifier = config.smtpUrl
    ? createNotifier(pool, tables, log, {
        smtpUrl: config.smtpUrl,
        notifyEmail: config.notifyEmail,
        adminBaseUrl: () => adminBaseUrl,
      })
    : null;
  const dispatcher = createDispatcher({
    pool,
    tables,
    secrets,
    sender,
    settings,
    log,
    userAgent: USER_AGENT,
    concurrency: config.concurrency,
    observer: metrics,
    notifier: notifier ?? undefined,
  });
  const service = createService({
    pool,
    tables,
    secrets,
    settings,
    allowPrivateTargets: config.allowPrivateTargets,
    nudge: () => void dispatcher.tick(),
    notify: (notices) => notifier?.notify(notices),
    userAgent: USER_AGENT,
  });
  const app = createApp({
    service,
    log,
    apiToken: config.apiToken,
    trustProxy: config.trustProxy,
    version: VERSION,
    metrics: metrics.registry,
    admin: {
      auth: createAdminAuth(pool, tables, config.adminPassword),
      throttle: new LoginThrottle(pool, tables),
      zones: createZoneSource(pool, tables),
    },
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

  const stopLoop = opts.loop === false ? null : startLoop(dispatcher, service, settings, pool, tables, log);
  log.info('sidecar started', { url, worker: dispatcher.worker, table_prefix: config.tablePrefix, version: VERSION });

  let stopped: Promise<void> | null = null;
  return {
    pool,
    tables,
    dispatcher,
    service,
    notifier,
    server,
    url,
    stop() {
      stopped ??= (async () => {
        await stopLoop?.();
        await dispatcher.stop();
        await notifier?.idle();
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

/**
 * The pool on DATABASE_URL's hosts, with our tables migrated and every stored
 * secret sealed with the current key; closed again when that fails.
 */
async function openDatabase(config: Config, log: Logger, secrets: SecretBox): Promise<{ pool: Pool; tables: Tables }> {
  const target = parseDatabaseUrl(config.databaseUrl, config.databaseSocket);
  await ensureDatabase(target);
  // Connections: claims, fan-out, recording and the web layer each need one at a time.
  const pool = createPool(target, 10, {
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
    await migrate(pool, tables, log);
    const sealed = await sealSecrets(pool, tables, secrets);
    if (sealed.sealed + sealed.resealed > 0)
      log.info('sealed stored secrets with the current key', {
        key: secrets.current.id,
        key_source: secrets.current.source,
        sealed_plain: sealed.sealed,
        resealed_from_previous_key: sealed.resealed,
      });
    await checkCaptureAtStart(pool, tables, log);
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

/**
 * The timers that drive a sidecar: the 1 s delivery tick, the 200 ms outbox
 * probe between ticks, the minute sweep for long-failing endpoints, and the
 * daily retention job. Returns what stops them.
 */
function startLoop(
  dispatcher: Dispatcher,
  service: Service,
  settings: SettingsStore,
  pool: Pool,
  tables: Tables,
  log: Logger,
): () => Promise<void> {
  // The cron callback does not return the tick's promise: tick() itself skips while
  // one runs, and node-cron would otherwise log an overlap warning every second of a long drain.
  const tick = cron.schedule('* * * * * *', () => void dispatcher.tick(), {
    name: `delivery-loop-${dispatcher.worker}`,
  });
  // Daily at 03:17 UTC, off the hour when other cron jobs pile up.
  const retention = cron.schedule(
    '0 17 3 * * *',
    async () => {
      try {
        await settings.refreshIfStale();
        await pruneOnce(pool, tables, settings.current().retentionDays, log);
      } catch (err) {
        log.error('retention job failed; it runs again tomorrow', { error: coerceError(err).message });
      }
    },
    { name: `retention-${dispatcher.worker}`, timezone: 'Etc/UTC' },
  );
  // Every minute: endpoints failing for an hour that no failure has reported yet (see Dispatcher.sweep).
  const sweep = cron.schedule('30 * * * * *', () => void dispatcher.sweep(), {
    name: `failing-sweep-${dispatcher.worker}`,
  });
  // Erasures: every 5 s, finish those waiting for their deliveries (one indexed read when none
  // wait); once a minute also follow student.deleted events when erase_after_student_deleted_days is set.
  let erasureRuns = 0;
  let erasing: Promise<unknown> | null = null;
  const erasures = setInterval(() => {
    if (erasing) return;
    const followDeletedStudents = erasureRuns++ % 12 === 0;
    erasing = service
      .runErasures({ followDeletedStudents })
      .catch((err: unknown) => {
        // An outage is the delivery loop's to report (it warns once and backs off); this waits for the next run.
        if (isConnectionError(err)) return;
        log.error('erasure run failed; it runs again shortly', { error: coerceError(err).message });
      })
      .finally(() => (erasing = null));
  }, ERASURE_MS);
  // Pick-up between ticks; 200 ms keeps the median outbox-to-send delay near 100 ms
  // for five indexed probes a second when idle (see README "Performance").
  const probe = setInterval(() => void dispatcher.poll(), POLL_MS);
  void dispatcher.tick();
  return async () => {
    await tick.destroy();
    await retention.destroy();
    await sweep.destroy();
    clearInterval(probe);
    clearInterval(erasures);
    await erasing;
  };
}
