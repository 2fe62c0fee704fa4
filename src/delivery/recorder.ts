/**
 * The recorder: attempt results written in batches, one transaction for many
 * attempts and completions (attempt rows, backoff columns, endpoint health).
 *
 * A result that cannot be recorded is not lost: while the database is away
 * results are kept (up to MAX_UNRECORDED) and retried with backoff, so they
 * are recorded before their leases run out and not sent twice; past that the
 * oldest are dropped and their deliveries, whose leases expire, are sent
 * again (at-least-once).
 */
import type { Pool, PoolConnection } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import { completeDeliveries, type Completion } from '../db/claims.js';
import { deleteForEndpoint, pauseForEndpoint } from '../db/deliveryActions.js';
import { deleteEndpointRow } from '../db/endpoints.js';
import { insertAttempts, type NewAttempt } from '../db/attempts.js';
import {
  claimFailingReports,
  claimRecoveryReports,
  disableEndpoint,
  disableLongFailing,
  endpointNotices,
  lockEndpoints,
  markFailing,
  markHealthy,
} from '../db/endpoints.js';
import { failedDeliveries } from '../db/deliveries.js';
import {
  emitOperational,
  endpointEvent,
  FAILING_AFTER_MS,
  transformationEvent,
  type OperationalNotice,
} from './operational.js';
import { noteTransformationRuns, type FailedRuns } from '../db/transformBackoff.js';
import { admitHeads } from '../db/ordering.js';
import { statementBudget } from '../db/sql.js';
import { withTransaction } from '../db/transaction.js';
import type { SettingsStore } from './settingsStore.js';
import type { Logger } from '../log.js';
import { coerceError } from '../errors.js';
import { OUR_FAULT } from '../types.js';
import { isTransient, retryConflicts } from '../db/conflicts.js';

/** One attempt's outcome as the recorder writes it. */
export interface Recorded {
  /** null when nothing was sent (the endpoint was disabled meanwhile). */
  attempt: NewAttempt | null;
  completion: Completion;
  endpointId: number;
  /** The delivery's ordering key (ordered endpoints): when it ends for good, the next of its key is admitted. */
  orderingKey: string | null;
  /** Its event's type: a failed webhook.* delivery is not reported again (no loops). */
  eventType: string;
  ok: boolean;
  /** Set when this response means the endpoint must be disabled now (410 Gone). */
  disableReason: string | null;
  /** A REST hook's target answered 410: Zapier's contract is that the subscription is removed. */
  removeEndpoint?: boolean;
  /** Set when the endpoint's transformation ran for it: whether it worked (a cancel counts as working), failed, or was stopped at a limit. */
  transformation?: 'ran' | 'failed' | 'stopped';
  /** Set when it waits for a transformation that keeps failing: until when (local ms), so claims leave the endpoint. */
  waitingUntil?: number;
}

export interface Recorder {
  record(r: Recorded): void;
  /** Writes everything buffered now (waits for a write under way first). */
  flush(): Promise<void>;
  /** Results waiting to be written. */
  pending(): number;
  lastError(): string | null;
}

const FLUSH_SIZE = 100;
const FLUSH_DELAY_MS = 20;
/**
 * Retries stay frequent (0.5 s doubling to 5 s, against 30 s for claims): a
 * result still unwritten when its lease ends is sent again, and one write
 * attempt every 5 s costs a database that is away nothing.
 */
const MAX_DB_BACKOFF_MS = 5_000;
/** Results kept in memory while the database cannot take them (about 2 MB). */
export const MAX_UNRECORDED = 5000;
/**
 * At most 4 MB a write, and no more than the server's statement budget
 * (db/pool statementBudget, from max_allowed_packet): a backlog held through
 * an outage goes in several transactions, not one statement the server
 * refuses again on every retry.
 */
const WRITE_MAX_BYTES = 4 << 20;
const WRITE_MAX_RESULTS = 1000;

/** What a result adds to a write's statements, at worst: escaped or multi-byte text counted thrice, 1 KB for the rest. */
function writeBytes(r: Recorded): number {
  const a = r.attempt;
  if (!a) return 1024;
  let chars = (a.responseBody?.length ?? 0) + (a.errorMessage?.length ?? 0) + a.requestUrl.length;
  for (const h of [a.requestHeaders, a.responseHeaders])
    if (h) for (const k in h) chars += k.length + (h[k]?.length ?? 0) + 6;
  return 1024 + 3 * chars;
}

export function createRecorder(deps: {
  pool: Pool;
  tables: Tables;
  settings: SettingsStore;
  log: Logger;
  stopping: () => boolean;
  /** Called after a write made the next delivery of an ordered key due. */
  onAdmitted?: () => void;
  /** Called with the operational events a write emitted (for e-mail). */
  onNotices?: (notices: OperationalNotice[]) => void;
}): Recorder {
  const { pool, tables: t, log } = deps;
  let buffer: Recorded[] = [];
  let flushTimer: NodeJS.Timeout | null = null;
  let flushing: Promise<void> | null = null;
  let retryMs = 0;
  let lastError: string | null = null;

  function record(r: Recorded) {
    buffer.push(r);
    schedule();
  }

  /**
   * Arranges the next write of what is buffered. Nothing while a write is
   * under way (it calls back here when it ends, so results that came in
   * meanwhile are never left without a write) or while one is timed
   * already: the batch timer, or the retry timer while the database is away.
   */
  function schedule() {
    if (flushing || flushTimer || buffer.length === 0) return;
    if (retryMs === 0 && buffer.length >= FLUSH_SIZE) void writeBuffered();
    else flushTimer = setTimeout(() => void flush(), retryMs || FLUSH_DELAY_MS);
  }

  /** One write of the oldest results buffered; on failure they go back to the buffer and the retry is timed. */
  function writeBuffered(): Promise<void> {
    if (flushTimer) {
      clearTimeout(flushTimer);
      flushTimer = null;
    }
    flushing = (async () => {
      // Not known yet with the database away: 4 MB until it answers (the write fails then anyway).
      const maxBytes = await statementBudget(pool).then(
        (b) => Math.min(WRITE_MAX_BYTES, b),
        () => WRITE_MAX_BYTES,
      );
      const batch = takeBatch(maxBytes);
      if (batch.length === 0) return;
      try {
        await write(batch);
        retryMs = 0;
      } catch (err) {
        keepForLater(batch, err);
      }
    })().finally(() => {
      flushing = null;
      schedule();
    });
    return flushing;
  }

  /** The oldest results, as many as one write may carry. */
  function takeBatch(maxBytes: number): Recorded[] {
    let n = 0;
    let bytes = 0;
    while (n < buffer.length && n < WRITE_MAX_RESULTS) {
      bytes += writeBytes(buffer[n]!);
      if (n > 0 && bytes > maxBytes) break;
      n++;
    }
    if (n === buffer.length) {
      const all = buffer;
      buffer = [];
      return all;
    }
    return buffer.splice(0, n);
  }

  async function flush(): Promise<void> {
    for (;;) {
      while (flushing) await flushing;
      if (buffer.length === 0) return;
      await writeBuffered();
      if (retryMs > 0) return; // kept; the retry timer writes it
    }
  }

  function keepForLater(batch: Recorded[], err: unknown) {
    const e = coerceError(err);
    lastError = e.message;
    if (!isTransient(err) || deps.stopping()) {
      // Stopping: no retry is coming, so what is still held is unrecorded too, and counted here.
      const held = deps.stopping() ? buffer.splice(0).length : 0;
      log.error('could not record delivery results; they will be sent again when their leases expire', {
        count: batch.length + held,
        error: e.message,
        code: (e as { code?: string }).code,
      });
      return;
    }
    buffer = [...batch, ...buffer];
    const over = buffer.length - MAX_UNRECORDED;
    if (over > 0) {
      buffer.splice(0, over);
      log.error(
        'too many unrecorded results while the database is away; the oldest will be resent when their leases expire',
        { dropped: over },
      );
    }
    retryMs = Math.min(MAX_DB_BACKOFF_MS, retryMs ? retryMs * 2 : 500);
    log.warn(`database unavailable while recording results; retrying in ${retryMs} ms`, {
      pending: buffer.length,
      error: e.message,
    });
  }

  async function write(batch: Recorded[]): Promise<void> {
    const s = deps.settings.current();
    const { disabled, admitted, notices } = await retryConflicts(() =>
      withTransaction(pool, (conn) => writeResults(conn, t, batch, s.autoDisableAfterHours)),
    );
    if (admitted > 0) deps.onAdmitted?.();
    if (notices.length > 0) deps.onNotices?.(notices);
    const removed = unique(batch.filter((b) => b.removeEndpoint).map((b) => b.endpointId));
    for (const id of unique(disabled).filter((x) => !removed.includes(x))) {
      log.warn('endpoint disabled; its pending deliveries are paused', { endpoint_id: id });
      pauseForEndpoint(pool, t, id).catch((err: unknown) =>
        log.error('pausing deliveries failed', { endpoint_id: id, error: coerceError(err).message }),
      );
    }
    // Disabled in the transaction above, so nothing more is sent; then removed with its history.
    for (const id of removed) {
      log.info('REST hook target answered 410 Gone; its subscription is removed', { endpoint_id: id });
      removeEndpoint(pool, t, id).catch((err: unknown) =>
        log.error('removing a subscription failed', { endpoint_id: id, error: coerceError(err).message }),
      );
    }
  }

  return { record, flush, pending: () => buffer.length, lastError: () => lastError };
}

/**
 * One batch of results in one transaction: attempt rows, completions,
 * endpoint health and the operational events it causes, and the next
 * delivery of each ordered key whose head ended.
 */
async function writeResults(
  conn: PoolConnection,
  t: Tables,
  batch: Recorded[],
  autoDisableAfterHours: number,
): Promise<{ disabled: number[]; admitted: number; notices: OperationalNotice[] }> {
  const disabled: number[] = [];
  let admitted = 0;
  // First, in id order: the ordered endpoints whose heads end here (see db/ordering).
  const ended = batch.filter(
    (b) =>
      b.orderingKey !== null &&
      (b.completion.status === 'succeeded' || b.completion.status === 'failed' || b.completion.status === 'cancelled'),
  );
  const locked = await lockEndpoints(
    conn,
    t,
    ended.map((b) => b.endpointId),
  );
  await insertAttempts(
    conn,
    t,
    batch.flatMap((b) => (b.attempt ? [b.attempt] : [])),
  );
  for (const b of batch) {
    if (b.disableReason && (await disableEndpoint(conn, t, b.endpointId, b.disableReason))) disabled.push(b.endpointId);
  }
  // The sidecar's own faults say nothing about the endpoint's health.
  const failing = unique(
    batch.filter((b) => b.attempt && !b.ok && !OUR_FAULT.has(b.attempt.errorClass)).map((b) => b.endpointId),
  );
  const healthy = unique(batch.filter((b) => b.ok).map((b) => b.endpointId));
  const recovered = await claimRecoveryReports(conn, t, healthy);
  await markFailing(conn, t, failing);
  await markHealthy(conn, t, healthy);
  const stillFailing = failing.filter((id) => !healthy.includes(id));
  const failingLong = await claimFailingReports(conn, t, stillFailing, FAILING_AFTER_MS);
  disabled.push(...(await disableLongFailing(conn, t, stillFailing, autoDisableAfterHours)));
  await completeDeliveries(
    conn,
    t,
    batch.map((b) => b.completion),
  );
  // What operators hear about, written with the change it reports.
  const failedFor = batch.filter((b) => b.completion.status === 'failed' && !b.eventType.startsWith('webhook.'));
  const failed = await failedDeliveries(
    conn,
    t,
    failedFor.map((b) => b.completion.id),
  );
  const turns = await noteTransformationRuns(conn, t, countFailed(batch), ranOk(batch));
  const notices = await emitOperational(conn, t, [
    ...turns.backingOff.map((e) => transformationEvent('webhook.endpoint_failing', e)),
    ...turns.recovered.map((e) => transformationEvent('webhook.endpoint_recovered', e)),
    ...failingLong.map((e) => endpointEvent('webhook.endpoint_failing', e)),
    ...(await endpointNotices(conn, t, unique(disabled))).map((e) => endpointEvent('webhook.endpoint_disabled', e)),
    ...recovered.map((e) => endpointEvent('webhook.endpoint_recovered', e)),
    ...failed.map((d) => ({ type: 'webhook.delivery_failed' as const, endpointId: d.endpoint_id, data: d })),
  ]);
  // A completion that lost its lease changed nothing; admitting is a no-op then, as the key still has its head.
  for (const [endpointId, ep] of locked) {
    const keys = ended.filter((b) => b.endpointId === endpointId).map((b) => b.orderingKey!);
    admitted += await admitHeads(conn, t, endpointId, ep.enabled, keys);
  }
  return { disabled, admitted, notices };
}

async function removeEndpoint(pool: Pool, t: Tables, id: number): Promise<void> {
  await deleteForEndpoint(pool, t, id);
  await deleteEndpointRow(pool, t, id);
}

/** Endpoints whose transformation failed in this batch: how many runs, and whether one was stopped at a limit. */
function countFailed(batch: Recorded[]): Map<number, FailedRuns> {
  const m = new Map<number, FailedRuns>();
  for (const b of batch) {
    if (b.transformation !== 'failed' && b.transformation !== 'stopped') continue;
    const f = m.get(b.endpointId) ?? { runs: 0, stopped: false };
    m.set(b.endpointId, { runs: f.runs + 1, stopped: f.stopped || b.transformation === 'stopped' });
  }
  return m;
}

/** Endpoints whose transformation ran and worked in this batch, and never failed in it. */
function ranOk(batch: Recorded[]): number[] {
  const failed = new Set(
    batch.filter((b) => b.transformation === 'failed' || b.transformation === 'stopped').map((b) => b.endpointId),
  );
  return unique(batch.filter((b) => b.transformation === 'ran' && !failed.has(b.endpointId)).map((b) => b.endpointId));
}

function unique(ids: number[]): number[] {
  return [...new Set(ids)];
}
