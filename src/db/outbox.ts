/**
 * {prefix}webhook_outbox: the LMS inserts, we read rows not yet fanned out
 * and stamp them. No id high-water mark: a row whose transaction commits
 * after a higher id is still fanned_out_at IS NULL and is found next time.
 */
import type { Queryable } from './sql.js';
import type { Tables } from './tables.js';
import { exec, parseUtcDateTime, rows, toDate, valuesTable, type Row } from './sql.js';

export interface OutboxRow {
  id: number;
  /** At most TEXT_READ_CHARS characters of it; eventTypeChars is the full length. */
  eventType: string;
  eventTypeChars: number;
  /** null when the payload is over the size limit (it is not read at all then). */
  payload: string | null;
  payloadBytes: number;
  eventId: string | null;
  eventIdChars: number;
  /** The column as text: zero and invalid dates are judged by the caller, not by the driver. */
  occurredAtText: string | null;
  createdAtText: string | null;
  /** inserted_at: the insertion instant in UTC (null for rows from before the column). */
  insertedAtText: string | null;
  /** At most TEXT_READ_CHARS characters; null when unset or when the outbox has no such column. */
  orderingKey: string | null;
  orderingKeyChars: number;
}

/** Payload bytes one fan-out batch may hold in memory: 500 rows of 256 KiB would be 128 MiB. */
export const BATCH_BYTES = 8 * 1024 * 1024;
/**
 * Characters read of event_type and event_id: enough to show in a rejection,
 * while an LMS-made outbox with TEXT columns cannot make us read megabytes.
 */
const TEXT_READ_CHARS = 300;

/**
 * Locks up to `limit` rows not yet fanned out (rows other processes hold are
 * skipped) and reads the payloads of as many as fit in BATCH_BYTES; the rest
 * are unlocked at commit and taken by the next batch. Payloads over the
 * limit are not read at all. `onlyIds` narrows the batch to those rows (used
 * to isolate a row the database refuses).
 */
export async function lockPending(
  conn: Queryable,
  t: Tables,
  limit: number,
  maxPayloadBytes: number,
  onlyIds?: readonly number[],
  /** Whether the outbox has the optional ordering_key column. */
  withOrderingKey = false,
  /** What one statement may carry here (statementBudget): a payload over it is not read, and a batch's payloads stay within it. */
  statementBytes = BATCH_BYTES,
): Promise<{ rows: OutboxRow[]; truncated: boolean }> {
  const readMax = Math.min(maxPayloadBytes, statementBytes);
  const batchBytes = Math.min(BATCH_BYTES, statementBytes);
  const locked = await rows(
    conn,
    `SELECT id, LENGTH(payload) AS payload_bytes FROM ${t.outbox}
      WHERE fanned_out_at IS NULL${onlyIds ? ' AND id IN (?)' : ''}
      ORDER BY id
      LIMIT ?
      FOR UPDATE SKIP LOCKED`,
    onlyIds ? [onlyIds, limit] : [limit],
  );
  const ids: number[] = [];
  let bytes = 0;
  for (const x of locked) {
    const n = Number(x.payload_bytes ?? 0);
    // 512 for the envelope and the other columns each event row adds to the statement.
    const cost = (n > readMax ? 0 : n) + 512;
    if (ids.length > 0 && bytes + cost > batchBytes) break;
    bytes += cost;
    ids.push(Number(x.id));
  }
  if (ids.length === 0) return { rows: [], truncated: false };
  const r = await rows(
    conn,
    `SELECT id, LEFT(event_type, ${TEXT_READ_CHARS}) AS event_type, CHAR_LENGTH(event_type) AS event_type_chars,
            IF(LENGTH(payload) > ?, NULL, payload) AS payload, LENGTH(payload) AS payload_bytes,
            LEFT(event_id, ${TEXT_READ_CHARS}) AS event_id, CHAR_LENGTH(event_id) AS event_id_chars,
            CAST(occurred_at AS CHAR) AS occurred_at_text, CAST(created_at AS CHAR) AS created_at_text,
            CAST(inserted_at AS CHAR) AS inserted_at_text,
            ${withOrderingKey ? `LEFT(ordering_key, ${TEXT_READ_CHARS}) AS ordering_key, CHAR_LENGTH(ordering_key) AS ordering_key_chars` : 'NULL AS ordering_key, 0 AS ordering_key_chars'}
       FROM ${t.outbox} WHERE id IN (?) ORDER BY id`,
    [readMax, ids],
  );
  const out = r.map((x) => ({
    id: Number(x.id),
    eventType: String(x.event_type ?? ''),
    eventTypeChars: Number(x.event_type_chars ?? 0),
    payload: x.payload === null ? null : String(x.payload),
    payloadBytes: Number(x.payload_bytes ?? 0),
    eventId: x.event_id === null ? null : String(x.event_id),
    eventIdChars: Number(x.event_id_chars ?? 0),
    occurredAtText: x.occurred_at_text === null ? null : String(x.occurred_at_text),
    createdAtText: x.created_at_text === null ? null : String(x.created_at_text),
    insertedAtText: x.inserted_at_text === null ? null : String(x.inserted_at_text),
    orderingKey: x.ordering_key === null ? null : String(x.ordering_key),
    orderingKeyChars: Number(x.ordering_key_chars ?? 0),
  }));
  return { rows: out, truncated: ids.length < locked.length };
}

export interface OutboxOutcome {
  id: number;
  eventId: string | null;
  rejectedReason: string | null;
  /** Something fan-out corrected and the operator should know (a zero occurred_at, say). */
  note: string | null;
  deliveryCount: number;
}

export async function markFannedOut(conn: Queryable, t: Tables, outcomes: OutboxOutcome[]): Promise<void> {
  if (outcomes.length === 0) return;
  const v = valuesTable(
    ['id', 'event_id', 'reason', 'note', 'n'],
    outcomes.map((o) => [o.id, o.eventId, o.rejectedReason, o.note, o.deliveryCount]),
  );
  await exec(
    conn,
    `UPDATE ${t.outbox} o JOIN ${v.sql} v ON o.id = v.id
        SET o.fanned_out_at = NOW(3),
            o.event_id = COALESCE(o.event_id, v.event_id),
            o.rejected_reason = v.reason,
            o.fanout_note = v.note,
            o.delivery_count = v.n`,
    v.params,
  );
}

/**
 * Stamps one row rejected on its own, outside any batch: the row the
 * database refused when its batch was split down to it.
 */
export async function rejectRow(conn: Queryable, t: Tables, id: number, reason: string): Promise<boolean> {
  const r = await exec(
    conn,
    `UPDATE ${t.outbox} SET fanned_out_at = NOW(3), rejected_reason = ?, delivery_count = 0 WHERE id = ? AND fanned_out_at IS NULL`,
    [reason.slice(0, 500), id],
  );
  return r.affectedRows === 1;
}

export interface OutboxListItem {
  id: number;
  eventType: string;
  eventId: string | null;
  /** null for a zero or invalid created_at the LMS's own DDL let through. */
  createdAt: Date | null;
  fannedOutAt: Date | null;
  rejectedReason: string | null;
  note: string | null;
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
    `SELECT ${LIST_COLUMNS}
       FROM ${t.outbox} ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
      ORDER BY id DESC LIMIT ?`,
    params,
  );
  return r.map(mapListItem);
}

const LIST_COLUMNS = `id, LEFT(event_type, ${TEXT_READ_CHARS}) AS event_type, LEFT(event_id, ${TEXT_READ_CHARS}) AS event_id,
  CAST(COALESCE(inserted_at, created_at) AS CHAR) AS created_at, fanned_out_at, rejected_reason, fanout_note, delivery_count, LENGTH(payload) AS payload_bytes`;

function mapListItem(x: Row): OutboxListItem {
  return {
    id: Number(x.id),
    eventType: String(x.event_type),
    eventId: x.event_id === null ? null : String(x.event_id),
    createdAt: parseUtcDateTime(x.created_at),
    fannedOutAt: toDate(x.fanned_out_at),
    rejectedReason: x.rejected_reason === null ? null : String(x.rejected_reason),
    note: x.fanout_note === null ? null : String(x.fanout_note),
    deliveryCount: x.delivery_count === null ? null : Number(x.delivery_count),
    payloadBytes: Number(x.payload_bytes ?? 0),
  };
}

/** Characters of a payload the row's page shows: enough to see what was wrong, never megabytes. */
export const PAYLOAD_SHOWN_CHARS = 65_536;

/** One outbox row as its page shows it, the payload cut to PAYLOAD_SHOWN_CHARS characters. */
export async function getOutboxRow(
  conn: Queryable,
  t: Tables,
  id: number,
): Promise<(OutboxListItem & { payload: string | null; occurredAt: string | null }) | null> {
  const [x] = await rows(
    conn,
    `SELECT ${LIST_COLUMNS}, CAST(occurred_at AS CHAR) AS occurred_at, LEFT(payload, ${PAYLOAD_SHOWN_CHARS}) AS payload FROM ${t.outbox} WHERE id = ?`,
    [id],
  );
  if (!x) return null;
  return {
    ...mapListItem(x),
    occurredAt: x.occurred_at === null ? null : String(x.occurred_at),
    payload: x.payload === null ? null : String(x.payload),
  };
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

/** Whether the outbox has the optional ordering_key column (an LMS-made outbox may not). */
export async function outboxHasOrderingKey(conn: Queryable, t: Tables): Promise<boolean> {
  const r = await rows(
    conn,
    "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'ordering_key'",
    [`${t.prefix}webhook_outbox`],
  );
  return r.length > 0;
}
