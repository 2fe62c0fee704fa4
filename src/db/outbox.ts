/**
 * {prefix}webhook_outbox: the LMS inserts, we read rows not yet fanned out
 * and stamp them. No id high-water mark: a row whose transaction commits
 * after a higher id is still fanned_out_at IS NULL and is found next time.
 */
import type { Queryable } from './pool.js';
import type { Tables } from './tables.js';
import { exec, rows, toDate, valuesTable } from './sql.js';

export interface OutboxRow {
  id: number;
  eventType: string;
  /** null when the payload is over the size limit (it is not read at all then). */
  payload: string | null;
  payloadBytes: number;
  eventId: string | null;
  occurredAt: Date | null;
  createdAt: Date;
}

/** Payload bytes one fan-out batch may hold in memory: 500 rows of 256 KiB would be 128 MiB. */
export const BATCH_BYTES = 8 * 1024 * 1024;

/**
 * Locks up to `limit` rows not yet fanned out (rows other processes hold are
 * skipped) and reads the payloads of as many as fit in BATCH_BYTES; the rest
 * are unlocked at commit and taken by the next batch. Payloads over the
 * limit are not read at all.
 */
export async function lockPending(
  conn: Queryable,
  t: Tables,
  limit: number,
  maxPayloadBytes: number,
): Promise<{ rows: OutboxRow[]; truncated: boolean }> {
  const locked = await rows(
    conn,
    `SELECT id, LENGTH(payload) AS payload_bytes FROM ${t.outbox}
      WHERE fanned_out_at IS NULL
      ORDER BY id
      LIMIT ?
      FOR UPDATE SKIP LOCKED`,
    [limit],
  );
  const ids: number[] = [];
  let bytes = 0;
  for (const x of locked) {
    const n = Number(x.payload_bytes ?? 0);
    const cost = n > maxPayloadBytes ? 0 : n;
    if (ids.length > 0 && bytes + cost > BATCH_BYTES) break;
    bytes += cost;
    ids.push(Number(x.id));
  }
  if (ids.length === 0) return { rows: [], truncated: false };
  const r = await rows(
    conn,
    `SELECT id, event_type, IF(LENGTH(payload) > ?, NULL, payload) AS payload, LENGTH(payload) AS payload_bytes,
            event_id, occurred_at, created_at
       FROM ${t.outbox} WHERE id IN (?) ORDER BY id`,
    [maxPayloadBytes, ids],
  );
  const out = r.map((x) => ({
    id: Number(x.id),
    eventType: String(x.event_type),
    payload: x.payload === null ? null : String(x.payload),
    payloadBytes: Number(x.payload_bytes ?? 0),
    eventId: x.event_id === null ? null : String(x.event_id),
    occurredAt: toDate(x.occurred_at),
    createdAt: toDate(x.created_at) ?? new Date(),
  }));
  return { rows: out, truncated: ids.length < locked.length };
}

export interface OutboxOutcome {
  id: number;
  eventId: string | null;
  rejectedReason: string | null;
  deliveryCount: number;
}

export async function markFannedOut(conn: Queryable, t: Tables, outcomes: OutboxOutcome[]): Promise<void> {
  if (outcomes.length === 0) return;
  const v = valuesTable(
    ['id', 'event_id', 'reason', 'n'],
    outcomes.map((o) => [o.id, o.eventId, o.rejectedReason, o.deliveryCount]),
  );
  await exec(
    conn,
    `UPDATE ${t.outbox} o JOIN ${v.sql} v ON o.id = v.id
        SET o.fanned_out_at = NOW(3),
            o.event_id = COALESCE(o.event_id, v.event_id),
            o.rejected_reason = v.reason,
            o.delivery_count = v.n`,
    v.params,
  );
}

export interface OutboxListItem {
  id: number;
  eventType: string;
  eventId: string | null;
  createdAt: Date;
  fannedOutAt: Date | null;
  rejectedReason: string | null;
  deliveryCount: number | null;
  payloadBytes: number;
}

export async function listOutbox(
  conn: Queryable,
  t: Tables,
  opts: { beforeId?: number; rejectedOnly?: boolean; limit: number },
): Promise<OutboxListItem[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (opts.beforeId) {
    where.push('id < ?');
    params.push(opts.beforeId);
  }
  if (opts.rejectedOnly) where.push('rejected_reason IS NOT NULL');
  params.push(opts.limit);
  const r = await rows(
    conn,
    `SELECT id, event_type, event_id, created_at, fanned_out_at, rejected_reason, delivery_count, LENGTH(payload) AS payload_bytes
       FROM ${t.outbox} ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
      ORDER BY id DESC LIMIT ?`,
    params,
  );
  return r.map((x) => ({
    id: Number(x.id),
    eventType: String(x.event_type),
    eventId: x.event_id === null ? null : String(x.event_id),
    createdAt: toDate(x.created_at)!,
    fannedOutAt: toDate(x.fanned_out_at),
    rejectedReason: x.rejected_reason === null ? null : String(x.rejected_reason),
    deliveryCount: x.delivery_count === null ? null : Number(x.delivery_count),
    payloadBytes: Number(x.payload_bytes),
  }));
}

/** The between-ticks probe: one lookup on idx_fanned_out, no locks. */
export async function hasWaitingRows(conn: Queryable, t: Tables): Promise<boolean> {
  const r = await rows(conn, `SELECT id FROM ${t.outbox} WHERE fanned_out_at IS NULL LIMIT 1`);
  return r.length > 0;
}

export async function countWaiting(conn: Queryable, t: Tables): Promise<number> {
  const [r] = await rows(conn, `SELECT COUNT(*) AS n FROM ${t.outbox} WHERE fanned_out_at IS NULL`);
  return Number(r?.n ?? 0);
}
