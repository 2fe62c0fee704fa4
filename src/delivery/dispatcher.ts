/**
 * The delivery loop: fan out → claim → sign → send → record → retry, wired
 * from four rooms: the claimer (claims under a lease), the scheduler (what
 * goes next), the sender (one signed attempt, attempt.ts) and the recorder
 * (results in batches).
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
import { fanOutIsolating } from './fanout.js';
import { hasWaitingRows, outboxHasOrderingKey } from '../db/outbox.js';
import type { Sender } from './send.js';
import type { SettingsStore } from './settingsStore.js';
import type { Logger } from '../log.js';
import { coerceError } from '../errors.js';
import type { DeliveryObserver } from '../metrics.js';
import { createClaimer, createClaimLoop } from './claimer.js';
import { createScheduler } from './scheduler.js';
import { createPolicySource } from './policies.js';
import type { Notifier } from './notifier.js';
import { SETTLE_MS } from '../db/ordering.js';
import { createAttempter } from './attempt.js';
import { createRecorder } from './recorder.js';
import { isTransient, retryConflicts } from './conflicts.js';
import { reportLongFailing, type OperationalNotice } from './operational.js';

export interface DispatcherDeps {
  pool: Pool;
  tables: Tables;
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

const FANOUT_BATCH = 500;
const FANOUT_MAX_BATCHES_PER_TICK = 40;
const MAX_DB_BACKOFF_MS = 30_000;

export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { pool, tables: t, settings, log } = deps;
  const worker = deps.worker ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  let ticking: Promise<void> | null = null;
  let stopping = false;
  let lastTickAt: number | null = null;
  let lastError: string | null = null;
  let dbBackoffMs = 0;
  let dbPausedUntil = 0;

  const claimer = createClaimer({ pool, tables: t, worker });
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
  const attempt = createAttempter({ sender: deps.sender, settings, userAgent: deps.userAgent, worker, observer: deps.observer });
  const scheduler = createScheduler({
    concurrency: deps.concurrency,
    perEndpointCap: () => settings.current().max_in_flight_per_endpoint,
    run: (c) =>
      attempt(c).then(recorder.record, (err: unknown) => log.error('delivery crashed', { delivery_id: c.id, error: coerceError(err).message })),
    onSettled: () => {
      if (claims.moreDue()) void pump();
    },
  });
  const policies = createPolicySource(pool, t);
  const claims = createClaimLoop({
    claimer,
    scheduler,
    timeoutSeconds: () => Math.max(settings.current().timeout_seconds, policies.current().maxTimeoutSeconds ?? 0),
    rateLimits: () => policies.current().rateLimits,
    mayClaim: () => !stopping && Date.now() >= dbPausedUntil,
    stopping: () => stopping,
    onSuccess: () => {
      dbBackoffMs = 0;
    },
    onError: (err) => noteDbError('claiming deliveries', err),
  });
  const pump = () => claims.pump();

  function noteDbError(what: string, err: unknown) {
    const e = coerceError(err);
    lastError = e.message;
    if (isTransient(err)) {
      dbBackoffMs = Math.min(MAX_DB_BACKOFF_MS, dbBackoffMs ? dbBackoffMs * 2 : 1000);
      dbPausedUntil = Date.now() + dbBackoffMs;
      log.warn(`database unavailable while ${what}; retrying in ${dbBackoffMs} ms`, { error: e.message, code: (e as { code?: string }).code });
    } else {
      log.error(`${what} failed`, { error: e.message, code: (e as { code?: string }).code });
    }
  }

  // ---- fan-out ----
  // Whether the outbox has ordering_key; looked at again every minute while it
  // has not (an operator may add it), and after an "unknown column" error.
  let orderingKey: { has: boolean; at: number } | null = null;
  async function outboxHasKey(): Promise<boolean> {
    if (!orderingKey || (!orderingKey.has && Date.now() - orderingKey.at > 60_000)) {
      orderingKey = { has: await outboxHasOrderingKey(pool, t), at: Date.now() };
    }
    return orderingKey.has;
  }

  // Heads admitted at fan-out are due SETTLE_MS later: claim them then, not at the tick after.
  let settleTimer: NodeJS.Timeout | null = null;
  function pumpAfterSettling() {
    if (settleTimer || stopping) return;
    settleTimer = setTimeout(() => {
      settleTimer = null;
      void pump();
    }, SETTLE_MS + 20);
    settleTimer.unref();
  }

  async function fanOut(): Promise<void> {
    const s = settings.current();
    const withOrderingKey = await outboxHasKey();
    for (let i = 0; i < FANOUT_MAX_BATCHES_PER_TICK && !stopping; i++) {
      const r = await retryConflicts(() =>
        fanOutIsolating(pool, t, { limit: FANOUT_BATCH, maxPayloadBytes: s.max_payload_bytes, withOrderingKey }, (id, reason) =>
          log.warn('the database refused an outbox row; it is stamped rejected and the others go on', { outbox_id: id, reason }),
        ),
      );
      if (r.rejected > 0) {
        log.warn('outbox rows rejected; see Events in the admin UI for the reasons', { count: r.rejected });
        deps.observer?.rejected(r.rejected);
      }
      if (r.deliveries > 0) void pump();
      if (r.inLine > 0) pumpAfterSettling();
      // A short batch means the outbox is drained, unless the byte budget cut it.
      if (r.rows === 0 || (r.rows < FANOUT_BATCH && !r.truncated)) break;
    }
  }

  async function runTick(): Promise<void> {
    if (Date.now() < dbPausedUntil) return;
    try {
      await settings.refreshIfStale();
      await policies.refreshIfStale();
      await fanOut();
      dbBackoffMs = 0;
    } catch (err) {
      if ((err as { code?: string }).code === 'ER_BAD_FIELD_ERROR') orderingKey = null;
      noteDbError('fanning out the outbox', err);
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
        noteDbError('looking for endpoints failing for an hour', err);
      }
    },
    async stop(graceMs = 8000) {
      stopping = true;
      if (settleTimer) clearTimeout(settleTimer);
      // Claimed but never started: handed back below so another process can send them now.
      const unsent = scheduler.stop();
      if (ticking) await ticking;
      await claims.running();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        scheduler.settled().then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) log.warn('stopping with requests still in flight; their leases will expire and they will be retried', { in_flight: scheduler.stats().inFlight });
      await recorder.flush();
      await claimer.release(unsent).catch((err: unknown) =>
        log.warn('could not release claims; they return when their lease expires', { error: coerceError(err).message }),
      );
    },
    async poll() {
      if (ticking || stopping || claims.running() || Date.now() < dbPausedUntil) return;
      try {
        if (await hasWaitingRows(pool, t)) await this.tick();
      } catch (err) {
        noteDbError('probing the outbox', err);
      }
    },
    stats: () => ({ inFlight: scheduler.stats().inFlight, lastTickAt, lastError: lastError ?? recorder.lastError() }),
  };
}
