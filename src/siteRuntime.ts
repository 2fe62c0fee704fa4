/**
 * One served site's delivery machinery: its tables migrated and sealed, its
 * settings, its delivery loop (claims, fan-out, sweeps, retention, erasures)
 * and the operator actions over it. A single-site sidecar runs one; a
 * network sidecar runs one per served site of the network (network/registry.ts),
 * all sharing one pool, one HTTP sender and one metrics registry.
 */
import cron from 'node-cron';
import type { Pool } from 'mysql2/promise';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { Tables } from './db/tables.js';
import { migrate } from './db/migrate.js';
import { checkCaptureAtStart } from './capture/install.js';
import type { Sender } from './delivery/send.js';
import { createSettingsStore, type SettingsStore } from './delivery/settingsStore.js';
import { createDispatcher, type Dispatcher } from './delivery/dispatcher.js';
import { createNotifier, type Notifier } from './delivery/notifier.js';
import { createService, type Service } from './manage/service.js';
import { pruneOnce } from './delivery/retention.js';
import type { DeliveryObserver } from './metrics.js';
import { coerceError, isConnectionError } from './errors.js';
import type { SecretBox } from './secrets.js';
import { sealSecrets } from './manage/secretOps.js';
import { createZoneSource, type SiteZone } from './wordpress/timeZone.js';
import type { SitePace } from './delivery/networkPace.js';

const ERASURE_MS = 5000;
/** The outbox probe between ticks for one site served alone (see README "Performance"). */
export const SITE_PROBE_MS = 200;

/** What every site of a process shares. */
export interface SharedParts {
  pool: Pool;
  config: Config;
  log: Logger;
  secrets: SecretBox;
  sender: Sender;
  userAgent: string;
  /** http://host:port the admin answers on, for links in mails (known once listening). */
  adminBaseUrl: () => string;
}

export interface SiteOptions {
  /** The network's blog id; null when one site is served. */
  blogId: number | null;
  tables: Tables;
  observer: DeliveryObserver;
  /** Where this site's admin pages live under the admin URL ('' alone, '/sites/2' in a network). */
  base: string;
  /** How new API keys of this site begin (a network's other sites name theirs). */
  keyPrefix?: string;
  /** The main site of a network: may make network-wide API keys. */
  networkKeys?: boolean;
  /** Its share of a network's pace (network/pace.ts); alone, its own setting is its pace. */
  pace?: SitePace;
  /** Run the delivery loop (default true). */
  loop?: boolean;
  /** The outbox probe between ticks. */
  probeMs?: number;
}

export interface SiteRuntime {
  blogId: number | null;
  tables: Tables;
  base: string;
  settings: SettingsStore;
  dispatcher: Dispatcher;
  service: Service;
  zones: { current(): Promise<SiteZone> };
  notifier: Notifier | null;
  /** Stops the loop, waits for requests in flight and records them. */
  stop(): Promise<void>;
}

/** Our tables of one site migrated, its stored secrets sealed with the current key, its capture checked. */
export async function prepareSiteTables(pool: Pool, tables: Tables, secrets: SecretBox, log: Logger): Promise<void> {
  await migrate(pool, tables, log);
  const sealed = await sealSecrets(pool, tables, secrets);
  if (sealed.sealed + sealed.resealed > 0)
    log.info('sealed stored secrets with the current key', {
      key: secrets.current.id,
      key_source: secrets.current.source,
      sealed_plain: sealed.sealed,
      resealed_from_previous_key: sealed.resealed,
      table_prefix: tables.prefix,
    });
  await checkCaptureAtStart(pool, tables, log);
}

/** A site's settings, delivery loop and service, on tables prepareSiteTables has readied. */
export async function startSite(shared: SharedParts, opts: SiteOptions): Promise<SiteRuntime> {
  const { pool, config, log } = shared;
  const { tables } = opts;
  const settings = createSettingsStore(pool, tables);
  await settings.refreshIfStale();
  const notifier = config.smtpUrl
    ? createNotifier(pool, tables, log, {
        smtpUrl: config.smtpUrl,
        notifyEmail: config.notifyEmail,
        adminBaseUrl: () => shared.adminBaseUrl() + opts.base,
      })
    : null;
  const dispatcher = createDispatcher({
    pool,
    tables,
    secrets: shared.secrets,
    sender: shared.sender,
    settings,
    log,
    userAgent: shared.userAgent,
    concurrency: config.concurrency,
    observer: opts.observer,
    notifier: notifier ?? undefined,
    pace: opts.pace,
  });
  const service = createService({
    pool,
    tables,
    secrets: shared.secrets,
    settings,
    allowPrivateTargets: config.allowPrivateTargets,
    nudge: () => void dispatcher.tick(),
    notify: (notices) => notifier?.notify(notices),
    userAgent: shared.userAgent,
    keyPrefix: opts.keyPrefix,
    networkKeys: opts.networkKeys,
  });
  const stopLoop =
    opts.loop === false
      ? null
      : startLoop(dispatcher, service, settings, pool, tables, log, opts.probeMs ?? SITE_PROBE_MS);
  let stopped: Promise<void> | null = null;
  return {
    blogId: opts.blogId,
    tables,
    base: opts.base,
    settings,
    dispatcher,
    service,
    zones: createZoneSource(pool, tables),
    notifier,
    stop() {
      stopped ??= (async () => {
        await stopLoop?.();
        await dispatcher.stop();
        await notifier?.idle();
      })();
      return stopped;
    },
  };
}

/**
 * The timers that drive a site: the 1 s delivery tick, the outbox probe
 * between ticks, the minute sweep for long-failing endpoints, erasures every
 * 5 s, and the daily retention job. Returns what stops them.
 */
function startLoop(
  dispatcher: Dispatcher,
  service: Service,
  settings: SettingsStore,
  pool: Pool,
  tables: Tables,
  log: Logger,
  probeMs: number,
): () => Promise<void> {
  // The cron callback does not return the tick's promise: tick() itself skips while
  // one runs, and node-cron would otherwise log an overlap warning every second of a long drain.
  const tick = cron.schedule('* * * * * *', () => void dispatcher.tick(), {
    name: `delivery-loop-${tables.prefix}-${dispatcher.worker}`,
  });
  // Daily at 03:17 UTC, off the hour when other cron jobs pile up.
  const retention = cron.schedule(
    '0 17 3 * * *',
    async () => {
      try {
        await settings.refreshIfStale();
        await pruneOnce(pool, tables, settings.current().retentionDays, log);
      } catch (err) {
        log.error('retention job failed; it runs again tomorrow', {
          error: coerceError(err).message,
          table_prefix: tables.prefix,
        });
      }
    },
    { name: `retention-${tables.prefix}-${dispatcher.worker}`, timezone: 'Etc/UTC' },
  );
  // Every minute: endpoints failing for an hour that no failure has reported yet (see Dispatcher.sweep).
  const sweep = cron.schedule('30 * * * * *', () => void dispatcher.sweep(), {
    name: `failing-sweep-${tables.prefix}-${dispatcher.worker}`,
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
  const probe = setInterval(() => void dispatcher.poll(), probeMs);
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
