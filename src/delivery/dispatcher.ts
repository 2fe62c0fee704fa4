/**
 * The delivery loop: fan out → claim → sign → send → record → retry.
 *
 * `tick()` runs every second from node-cron; a tick that finds the previous
 * one still running returns at once. Between ticks, each finished request
 * pulls more work while the last claim came back full, so a backlog drains at
 * the speed of the receivers rather than one batch a second.
 *
 * Results are recorded in batches by the recorder (one transaction for many
 * attempts and completions). A result that cannot be recorded is not lost:
 * its delivery's lease runs out and it is sent again (at-least-once).
 */
import { hostname } from 'node:os';
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Pool } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import { claimDue, completeDeliveries, pauseForEndpoint, releaseClaims, type ClaimedDelivery, type Completion } from '../db/deliveries.js';
import { insertAttempts, type NewAttempt } from '../db/attempts.js';
import { disableEndpoint, disableLongFailing, markFailing, markHealthy } from '../db/endpoints.js';
import { withTransaction } from '../db/pool.js';
import { fanOutIsolating } from './fanout.js';
import { hasWaitingRows } from '../db/outbox.js';
import { signedHeaders } from './sign.js';
import { nextDelayMs, parseRetryAfterMs } from './backoff.js';
import type { Sender, SendResult } from './send.js';
import type { SettingsStore } from './settingsStore.js';
import type { Logger } from '../log.js';
import { coerceError, isConnectionError } from '../errors.js';
import type { Settings } from '../types.js';
import type { DeliveryObserver } from '../metrics.js';

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
  /** Stops claiming, waits for requests in flight (up to graceMs) and records them. */
  stop(graceMs?: number): Promise<void>;
  stats(): { inFlight: number; lastTickAt: number | null; lastError: string | null };
}

const FANOUT_BATCH = 500;
const FANOUT_MAX_BATCHES_PER_TICK = 40;
const FLUSH_SIZE = 100;
const FLUSH_DELAY_MS = 20;
const MAX_DB_BACKOFF_MS = 30_000;
/** Results kept in memory while the database cannot take them (about 2 MB). */
const MAX_UNRECORDED = 5000;
/**
 * A claim's lease: twice the request timeout plus 10 s to record the result.
 * Shorter means a dead process's deliveries come back sooner; a result
 * recorded after its lease ran out may be sent twice (at-least-once).
 */
export function leaseMs(timeoutSeconds: number): number {
  return 2 * timeoutSeconds * 1000 + 10_000;
}

export interface Decision {
  status: Completion['status'];
  delayMs: number | null;
  /** Set when this response means the endpoint must be disabled now. */
  disableReason: string | null;
}

/** What one attempt's result means for its delivery. Pure. */
export function decide(result: SendResult, attemptNo: number, settings: Settings, nowMs: number, random: () => number = Math.random): Decision {
  if (result.ok) return { status: 'succeeded', delayMs: null, disableReason: null };
  // Our own fault would fail the same way on every retry: fail now, with the reason.
  if (result.errorClass === 'internal') return { status: 'failed', delayMs: null, disableReason: null };
  if (result.statusCode === 410) {
    return { status: 'paused', delayMs: null, disableReason: 'the endpoint answered 410 Gone' };
  }
  const retryAfter =
    result.statusCode === 429 || result.statusCode === 503 ? parseRetryAfterMs(result.headers?.['retry-after'], nowMs) : null;
  const delayMs = nextDelayMs(settings, attemptNo, retryAfter, random);
  return delayMs === null ? { status: 'failed', delayMs: null, disableReason: null } : { status: 'pending', delayMs, disableReason: null };
}

interface Recorded {
  attempt: NewAttempt | null;
  completion: Completion;
  endpointId: number;
  ok: boolean;
  disableReason: string | null;
}

export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { pool, tables: t, sender, settings, log } = deps;
  const worker = deps.worker ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const perEndpoint = new Map<number, number>();
  const running = new Set<Promise<void>>();
  let inFlight = 0;
  let ticking: Promise<void> | null = null;
  /** The claim loop under way, if any: stop() awaits it. */
  let pumping: Promise<void> | null = null;
  let moreDue = false;
  let stopping = false;
  let lastTickAt: number | null = null;
  let lastError: string | null = null;
  let dbBackoffMs = 0;
  let dbPausedUntil = 0;

  // ---- recorder: batches results into one transaction ----
  let buffer: Recorded[] = [];
  let flushTimer: NodeJS.Timeout | null = null;
  let flushing: Promise<void> | null = null;
  let recordRetryMs = 0;

  function record(r: Recorded) {
    buffer.push(r);
    if (recordRetryMs > 0) return; // a retry is scheduled; it takes everything buffered
    if (buffer.length >= FLUSH_SIZE) void flush();
    else if (!flushTimer) flushTimer = setTimeout(() => void flush(), FLUSH_DELAY_MS);
  }

  async function flush(): Promise<void> {
    if (flushTimer) {
      clearTimeout(flushTimer);
      flushTimer = null;
    }
    if (flushing) {
      await flushing;
      if (buffer.length === 0) return;
    }
    const batch = buffer;
    buffer = [];
    if (batch.length === 0) return;
    flushing = writeResults(batch)
      .then(() => {
        recordRetryMs = 0;
      })
      .catch((err: unknown) => {
        const e = coerceError(err);
        lastError = e.message;
        if (isConnectionError(err) && !stopping) {
          // Keep them and try again: recorded before their leases run out, they are not
          // sent twice. Past MAX_UNRECORDED the oldest go; their leases expire and they are
          // sent again (at-least-once), so nothing is lost either way.
          buffer = [...batch, ...buffer];
          const over = buffer.length - MAX_UNRECORDED;
          if (over > 0) {
            buffer.splice(0, over);
            log.error('too many unrecorded results while the database is away; the oldest will be resent when their leases expire', { dropped: over });
          }
          recordRetryMs = Math.min(MAX_DB_BACKOFF_MS, recordRetryMs ? recordRetryMs * 2 : 500);
          log.warn(`database unavailable while recording results; retrying in ${recordRetryMs} ms`, { pending: buffer.length, error: e.message });
          if (!flushTimer) flushTimer = setTimeout(() => void flush(), recordRetryMs);
          return;
        }
        log.error('could not record delivery results; they will be sent again when their leases expire', {
          count: batch.length,
          error: e.message,
          code: (e as { code?: string }).code,
        });
      })
      .finally(() => {
        flushing = null;
      });
    await flushing;
    if (buffer.length >= FLUSH_SIZE && recordRetryMs === 0) await flush();
  }

  async function writeResults(batch: Recorded[]): Promise<void> {
    const s = settings.current();
    const disabled: number[] = [];
    await retryDeadlock(() =>
      withTransaction(pool, async (conn) => {
        await insertAttempts(conn, t, batch.flatMap((b) => (b.attempt ? [b.attempt] : [])));
        for (const b of batch) {
          if (b.disableReason) {
            await disableEndpoint(conn, t, b.endpointId, b.disableReason);
            disabled.push(b.endpointId);
          }
        }
        // The sidecar's own faults say nothing about the endpoint's health.
        const failing = unique(batch.filter((b) => b.attempt && !b.ok && b.attempt.errorClass !== 'internal').map((b) => b.endpointId));
        const healthy = unique(batch.filter((b) => b.ok).map((b) => b.endpointId));
        await markFailing(conn, t, failing);
        await markHealthy(conn, t, healthy);
        const stillFailing = failing.filter((id) => !healthy.includes(id));
        disabled.push(...(await disableLongFailing(conn, t, stillFailing, s.auto_disable_after_hours)));
        await completeDeliveries(conn, t, batch.map((b) => b.completion));
      }),
    );
    for (const id of unique(disabled)) {
      log.warn('endpoint disabled; its pending deliveries are paused', { endpoint_id: id });
      pauseForEndpoint(pool, t, id).catch((err: unknown) => log.error('pausing deliveries failed', { endpoint_id: id, error: coerceError(err).message }));
    }
  }

  // ---- sending ----
  async function deliver(c: ClaimedDelivery): Promise<void> {
    const startedAt = new Date();
    if (!c.endpointEnabled) {
      record({
        attempt: null,
        endpointId: c.endpointId,
        ok: false,
        disableReason: null,
        completion: { id: c.id, claimToken: c.claimToken, status: 'paused', delayMs: null, attempted: false, startedAt, statusCode: null, error: null },
      });
      return;
    }
    const s = settings.current();
    const body = Buffer.from(c.body, 'utf8');
    let headers: Record<string, string> = {};
    let result: SendResult;
    try {
      headers = signedHeaders({
        eventId: c.eventId,
        eventType: c.eventType,
        body,
        timestampSeconds: Math.floor(startedAt.getTime() / 1000),
        secrets: c.secrets,
        userAgent: deps.userAgent,
      });
      checkHeaders(headers);
      if (s.https_only && !c.url.startsWith('https:')) {
        result = { ok: false, statusCode: null, headers: null, body: null, durationMs: 0, errorClass: 'blocked_target', errorMessage: 'the HTTPS-only setting is on and this endpoint URL is http://' };
      } else result = await sender.send({ url: c.url, headers, body, timeoutMs: s.timeout_seconds * 1000, keepBodyBytes: s.response_body_max_bytes });
    } catch (err) {
      // A request we cannot build (send() itself never throws) is our fault, not the receiver's.
      result = ownFault(`the sidecar could not build this request, so it was not sent: ${coerceError(err).message}`);
    }
    // One numbering through every replay; the retry schedule counts from the last replay.
    const attemptNo = c.attempts + 1;
    const sinceReplay = attemptNo - c.retryBase;
    const d = decide(result, sinceReplay, s, Date.now());
    deps.observer?.attempt(c.endpointId, result.ok, result.durationMs);
    deps.observer?.completed(c.endpointId, d.status === 'pending' ? 'retry' : d.status);
    record({
      endpointId: c.endpointId,
      ok: result.ok,
      disableReason: d.disableReason,
      attempt: {
        deliveryId: c.id,
        attemptNo,
        startedAt,
        durationMs: result.durationMs,
        outcome: result.ok ? 'success' : 'failure',
        statusCode: result.statusCode,
        errorClass: result.errorClass,
        errorMessage: result.errorMessage,
        requestUrl: c.url,
        startedBy: attemptNo === 1 ? 'first' : sinceReplay === 1 ? 'replay' : 'retry',
        requestHeaders: headers,
        responseHeaders: result.headers,
        responseBody: result.body,
        worker,
      },
      completion: {
        id: c.id,
        claimToken: c.claimToken,
        status: d.status,
        delayMs: d.delayMs,
        attempted: true,
        startedAt,
        statusCode: result.statusCode,
        error: result.ok ? null : `${result.errorClass}: ${result.errorMessage}`,
      },
    });
  }

  // ---- scheduling: claimed deliveries wait in a queue per endpoint ----
  // A process holds up to 2× its concurrency (and 2× the per-endpoint cap for
  // one endpoint): the second half is the next batch, claimed while the first
  // is in flight, so one claim query serves many requests. A queued delivery
  // waits at most about one request timeout, well inside its lease.
  const queues = new Map<number, ClaimedDelivery[]>();
  let queued = 0;
  const held = (ep: number) => (perEndpoint.get(ep) ?? 0) + (queues.get(ep)?.length ?? 0);

  function enqueue(c: ClaimedDelivery) {
    const q = queues.get(c.endpointId);
    if (q) q.push(c);
    else queues.set(c.endpointId, [c]);
    queued++;
  }

  /** Starts queued deliveries while there is room, taking endpoints in turn. */
  function dispatch() {
    const cap = settings.current().max_in_flight_per_endpoint;
    let progressed = true;
    while (progressed && inFlight < deps.concurrency && queued > 0) {
      progressed = false;
      for (const [ep, q] of queues) {
        if (inFlight >= deps.concurrency) break;
        if ((perEndpoint.get(ep) ?? 0) >= cap) continue;
        const c = q.shift()!;
        queued--;
        // Re-inserting moves this endpoint to the back: round robin across endpoints.
        queues.delete(ep);
        if (q.length) queues.set(ep, q);
        start(c);
        progressed = true;
      }
    }
  }

  function start(c: ClaimedDelivery) {
    inFlight++;
    perEndpoint.set(c.endpointId, (perEndpoint.get(c.endpointId) ?? 0) + 1);
    const p: Promise<void> = deliver(c)
      .catch((err: unknown) => log.error('delivery crashed', { delivery_id: c.id, error: coerceError(err).message }))
      .finally(() => {
        inFlight--;
        const n = (perEndpoint.get(c.endpointId) ?? 1) - 1;
        if (n <= 0) perEndpoint.delete(c.endpointId);
        else perEndpoint.set(c.endpointId, n);
        running.delete(p);
        if (stopping) return;
        dispatch();
        if (moreDue) void pump();
      });
    running.add(p);
  }

  // ---- claiming ----
  let pumpAgain = false;

  function pump(): Promise<void> {
    if (stopping || Date.now() < dbPausedUntil) return Promise.resolve();
    if (pumping) {
      // Asked while a claim is under way: run once more when it is done, so no request is lost.
      pumpAgain = true;
      return pumping;
    }
    pumping = (async () => {
      try {
        do {
          pumpAgain = false;
          await claimWhileRoom();
        } while (pumpAgain && !stopping);
        dbBackoffMs = 0;
      } catch (err) {
        noteDbError('claiming deliveries', err);
      } finally {
        pumping = null;
      }
    })();
    return pumping;
  }

  async function claimWhileRoom(): Promise<void> {
    const maxHeld = 2 * deps.concurrency;
    for (;;) {
      if (stopping) return;
      const room = maxHeld - inFlight - queued;
      // Claim in batches: one query per quarter of the window, not one per freed slot.
      if (room < (inFlight + queued === 0 ? 1 : Math.ceil(deps.concurrency / 4))) return;
      const s = settings.current();
      const endpointMax = 2 * s.max_in_flight_per_endpoint;
      const full = [...new Set([...perEndpoint.keys(), ...queues.keys()])].filter((ep) => held(ep) >= endpointMax);
      const { claimed, exhausted } = await claimDue(pool, t, {
        limit: room,
        leaseMs: leaseMs(s.timeout_seconds),
        token: randomBytes(12).toString('hex'),
        worker,
        excludeEndpoints: full,
        freeSlots: (ep) => endpointMax - held(ep),
      });
      if (stopping) {
        await releaseClaims(pool, t, claimed);
        return;
      }
      for (const c of claimed) enqueue(c);
      dispatch();
      // A claim that skipped full endpoints cannot tell whether they have more due,
      // so finishing requests keep asking.
      moreDue = !exhausted || full.length > 0 || claimed.some((c) => held(c.endpointId) >= endpointMax);
      if (exhausted || claimed.length === 0) return;
    }
  }

  function noteDbError(what: string, err: unknown) {
    const e = coerceError(err);
    lastError = e.message;
    if (isConnectionError(err)) {
      dbBackoffMs = Math.min(MAX_DB_BACKOFF_MS, dbBackoffMs ? dbBackoffMs * 2 : 1000);
      dbPausedUntil = Date.now() + dbBackoffMs;
      log.warn(`database unavailable while ${what}; retrying in ${dbBackoffMs} ms`, { error: e.message, code: (e as { code?: string }).code });
    } else {
      log.error(`${what} failed`, { error: e.message, code: (e as { code?: string }).code });
    }
  }

  async function fanOut(): Promise<void> {
    const s = settings.current();
    for (let i = 0; i < FANOUT_MAX_BATCHES_PER_TICK && !stopping; i++) {
      const r = await retryDeadlock(() =>
        fanOutIsolating(pool, t, { limit: FANOUT_BATCH, maxPayloadBytes: s.max_payload_bytes }, (id, reason) =>
          log.warn('the database refused an outbox row; it is stamped rejected and the others go on', { outbox_id: id, reason }),
        ),
      );
      if (r.rejected > 0) {
        log.warn('outbox rows rejected; see Events in the admin UI for the reasons', { count: r.rejected });
        deps.observer?.rejected(r.rejected);
      }
      if (r.deliveries > 0) void pump();
      // A short batch means the outbox is drained, unless the byte budget cut it.
      if (r.rows === 0 || (r.rows < FANOUT_BATCH && !r.truncated)) break;
    }
  }

  async function runTick(): Promise<void> {
    if (Date.now() < dbPausedUntil) return;
    try {
      await settings.refreshIfStale();
      await fanOut();
      dbBackoffMs = 0;
    } catch (err) {
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
    async stop(graceMs = 8000) {
      stopping = true;
      if (ticking) await ticking;
      if (pumping) await pumping;
      const all = Promise.allSettled([...running]);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        all.then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) log.warn('stopping with requests still in flight; their leases will expire and they will be retried', { in_flight: inFlight });
      await flush();
      // Claimed but never started: hand them back so another process can send them now.
      const unsent = [...queues.values()].flat();
      queues.clear();
      queued = 0;
      await releaseClaims(pool, t, unsent).catch((err: unknown) =>
        log.warn('could not release claims; they return when their lease expires', { error: coerceError(err).message }),
      );
    },
    async poll() {
      if (ticking || stopping || pumping || Date.now() < dbPausedUntil) return;
      try {
        if (await hasWaitingRows(pool, t)) await this.tick();
      } catch (err) {
        noteDbError('probing the outbox', err);
      }
    },
    stats: () => ({ inFlight, lastTickAt, lastError }),
  };
}

/** A failed attempt that is the sidecar's fault: never retried, never counted against the endpoint. */
function ownFault(message: string): SendResult {
  return { ok: false, statusCode: null, headers: null, body: null, durationMs: 0, errorClass: 'internal', errorMessage: message };
}

/** Node's own header checks, run before sending so a bad value is named here rather than deep in got. */
function checkHeaders(headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) {
    try {
      validateHeaderName(name);
      validateHeaderValue(name, value);
    } catch {
      throw new Error(`the ${name} header value ${JSON.stringify(value.slice(0, 80))} has characters HTTP headers cannot carry`);
    }
  }
}

function unique(ids: number[]): number[] {
  return [...new Set(ids)];
}

/** InnoDB may pick any of two concurrent transactions as a deadlock victim; retrying is the documented remedy. */
async function retryDeadlock<T>(fn: () => Promise<T>, tries = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (i >= tries || (code !== 'ER_LOCK_DEADLOCK' && code !== 'ER_LOCK_WAIT_TIMEOUT')) throw err;
      await new Promise((r) => setTimeout(r, 5 * i + Math.random() * 20));
    }
  }
}
