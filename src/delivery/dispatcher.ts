/**
 * The delivery loop: fan out → claim → sign → send → record → retry, wired
 * from four parts: the claimer (claims under a lease, claimer.ts), the fair
 * queue (which claimed delivery goes next, fairQueue.ts), the attempt (one
 * signed request and what its result means, attempt.ts) and the recorder
 * (results in batches, recorder.ts).
 *
 * `tick()` runs every second from node-cron; a tick that finds the previous
 * one still running returns at once. Between ticks, each finished request
 * pulls more work while the last claim came back full, so a backlog drains at
 * the speed of the receivers rather than one batch a second.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Pool } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import { createFanOutLoop } from './fanoutLoop.js';
import { hasWaitingRows } from '../db/outbox.js';
import type { Sender } from './send.js';
import type { SettingsStore } from './settingsStore.js';
import type { Logger } from '../log.js';
import { coerceError } from '../errors.js';
import type { DeliveryObserver } from '../metrics.js';
import type { SecretBox } from '../secrets.js';
import { createClaimer, createClaimLoop } from './claimer.js';
import { createFairQueue } from './fairQueue.js';
import { createPolicySource } from './policies.js';
import type { Notifier } from './notifier.js';
import { createAttempter } from './attempt.js';
import { createRecorder } from './recorder.js';
import { isTransient, retryConflicts } from '../db/conflicts.js';
import { reportLongFailing, type OperationalNotice } from './operational.js';
import type { SitePace } from './networkPace.js';

export interface DispatcherDeps {
  pool: Pool;
  tables: Tables;
  /** Opens the endpoints' secrets the claimed deliveries are signed with. */
  secrets: SecretBox;
  sender: Sender;
  settings: SettingsStore;
  log: Logger;
  userAgent: string;
  /** Requests in flight in this process over all endpoints. */
  concurrency: number;
  worker?: string;
  observer?: DeliveryObserver;
  /** Mails operational events (when SMTP_URL is set). */
  notifier?: Notifier;
  /** A network's share of its pace for this site (network/pace.ts); by default the site's own setting. */
  pace?: SitePace;
}

export interface Dispatcher {
  readonly worker: string;
  tick(): Promise<void>;
  /**
   * Between ticks: one indexed probe of the outbox; a tick runs at once when
   * a row is waiting. Cuts pick-up latency from ~500 ms (half a tick) to
   * half the probe interval, for one cheap query per probe when idle.
   */
  poll(): Promise<void>;
  /**
   * Reports endpoints that have been failing for an hour when no failure has
   * reported it: a failure reports it only when it happens, and with a long
   * retry delay the next one may be hours away. Run every minute.
   */
  sweep(): Promise<void>;
  /** Stops claiming, waits for requests in flight (up to graceMs) and records them. */
  stop(graceMs?: number): Promise<void>;
  stats(): { inFlight: number; lastTickAt: number | null; lastError: string | null };
}

const MAX_DB_BACKOFF_MS = 30_000;

/** Backs off (1 s doubling to 30 s) while the database is unreachable; logs other errors as they are. */
function createDbBackoff(log: Logger) {
  let backoffMs = 0;
  let pausedUntil = 0;
  let lastError: string | null = null;
  return {
    paused: () => Date.now() < pausedUntil,
    reset: () => {
      backoffMs = 0;
    },
    lastError: () => lastError,
    noteError(what: string, err: unknown) {
      const e = coerceError(err);
      lastError = e.message;
      if (isTransient(err)) {
        backoffMs = Math.min(MAX_DB_BACKOFF_MS, backoffMs ? backoffMs * 2 : 1000);
        pausedUntil = Date.now() + backoffMs;
        log.warn(`database unavailable while ${what}; retrying in ${backoffMs} ms`, {
          error: e.message,
          code: (e as { code?: string }).code,
        });
      } else {
        log.error(`${what} failed`, { error: e.message, code: (e as { code?: string }).code });
      }
    },
  };
}

export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { pool, tables: t, settings, log } = deps;
  const worker = deps.worker ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  let ticking: Promise<void> | null = null;
  let stopping = false;
  let lastTickAt: number | null = null;
  const db = createDbBackoff(log);
  const pace = () => {
    const own = settings.current().maxDeliveriesPerSecond;
    return deps.pace ? deps.pace.pace(own) : own;
  };

  const claimer = createClaimer({ pool, tables: t, secrets: deps.secrets, worker });
  // A key's next delivery, admitted as its head ends, is claimed now rather than at the next tick.
  const recorder = createRecorder({
    pool,
    tables: t,
    settings,
    log,
    stopping: () => stopping,
    onAdmitted: () => void pump(),
    onNotices: (notices) => announce(notices),
  });
  /** Operational events written: they are deliveries too (claim them now), and mail. */
  function announce(notices: OperationalNotice[]) {
    void pump();
    deps.notifier?.notify(notices);
  }
  const attempt = createAttempter({
    sender: deps.sender,
    site: t.prefix,
    settings,
    userAgent: deps.userAgent,
    worker,
    observer: deps.observer,
  });
  const queue = createFairQueue({
    concurrency: deps.concurrency,
    perEndpointCap: () => settings.current().maxInFlightPerEndpoint,
    run: (c) =>
      attempt(c).then(
        (result) => {
          if (result.waitingUntil !== undefined) claims.hold(result.endpointId, result.waitingUntil);
          recorder.record(result);
        },
        (err: unknown) => log.error('delivery crashed', { delivery_id: c.id, error: coerceError(err).message }),
      ),
    onSettled: () => {
      if (claims.moreDue()) void pump();
    },
  });
  const policies = createPolicySource(pool, t);
  const claims = createClaimLoop({
    claimer,
    queue,
    timeoutSeconds: () => Math.max(settings.current().timeoutSeconds, policies.current().maxTimeoutSeconds ?? 0),
    mayClaim: () => !stopping && !db.paused(),
    pace,
    onPaced: () => deps.pace?.onPaced(),
    stopping: () => stopping,
    onSuccess: db.reset,
    onError: (err) => db.noteError('claiming deliveries', err),
  });
  const pump = () => claims.pump();
  const fanOutLoop = createFanOutLoop({
    pool,
    tables: t,
    settings,
    log,
    observer: deps.observer,
    pace,
    stopping: () => stopping,
    pump: () => void pump(),
  });

  async function runTick(): Promise<void> {
    if (db.paused()) return;
    try {
      await settings.refreshIfStale();
      await policies.refreshIfStale();
      await fanOutLoop.run();
      db.reset();
    } catch (err) {
      if ((err as { code?: string }).code === 'ER_BAD_FIELD_ERROR') fanOutLoop.forgetColumns();
      db.noteError('fanning out the outbox', err);
      return;
    }
    await pump();
    lastTickAt = Date.now();
  }

  return {
    worker,
    tick() {
      if (ticking || stopping) return ticking ?? Promise.resolve();
      ticking = runTick()
        .catch((err: unknown) => log.error('tick failed', { error: coerceError(err).message }))
        .finally(() => {
          ticking = null;
        });
      return ticking;
    },
    async sweep() {
      if (stopping) return;
      try {
        const notices = await retryConflicts(() => reportLongFailing(pool, t));
        if (notices.length > 0) announce(notices);
      } catch (err) {
        db.noteError('looking for endpoints failing for an hour', err);
      }
    },
    async stop(graceMs = 8000) {
      stopping = true;
      fanOutLoop.stop();
      // Claimed but never started: handed back below so another process can send them now.
      const unsent = queue.stop();
      if (ticking) await ticking;
      await claims.running();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        queue.settled().then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs))),
      ]);
      clearTimeout(timer);
      if (timedOut)
        log.warn('stopping with requests still in flight; their leases will expire and they will be retried', {
          in_flight: queue.stats().inFlight,
        });
      await recorder.flush();
      await claimer.release(unsent).catch((err: unknown) =>
        log.warn('could not release claims; they return when their lease expires', {
          error: coerceError(err).message,
        }),
      );
    },
    async poll() {
      if (ticking || stopping || claims.running() || db.paused()) return;
      try {
        if (await hasWaitingRows(pool, t)) await this.tick();
      } catch (err) {
        db.noteError('probing the outbox', err);
      }
    },
    stats: () => ({
      inFlight: queue.stats().inFlight,
      lastTickAt,
      lastError: db.lastError() ?? recorder.lastError(),
    }),
  };
}
