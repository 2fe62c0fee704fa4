/**
 * Erasure: {prefix}webhook_erasures (the record of each request) and the
 * statements that find and overwrite every stored copy of an event's
 * payload: the event's envelope, its payload-search terms, the LMS's outbox
 * row, and what its attempts kept of the receiver's answers and of the
 * request's own headers. Ids, types, times, statuses and outcomes stay.
 */
import type { Queryable } from './sql.js';
import type { Tables } from './tables.js';
import { exec, parseJsonColumn, rows, toDate, type Row } from './sql.js';

export type ErasureStatus = 'waiting' | 'done';
/** What happens to deliveries of matched events not sent yet: sent first, or cancelled. */
export type PendingAction = 'send' | 'cancel';

/** Rows changed, per table. */
export interface ErasureCounts {
  events: number;
  event_terms: number;
  outbox: number;
  attempts: number;
  deliveries_cancelled: number;
}

export const NO_COUNTS: Readonly<ErasureCounts> = Object.freeze({
  events: 0,
  event_terms: 0,
  outbox: 0,
  attempts: 0,
  deliveries_cancelled: 0,
});

export interface ErasureRow {
  id: number;
  status: ErasureStatus;
  pendingAction: PendingAction;
  /** The condition's paths (data.student_id), never its values. */
  paths: string[];
  conditionsDigest: Buffer;
  /** The condition, sealed; kept only while waiting. */
  conditionsSealed: string | null;
  upToEventPk: number;
  upToOutboxId: number;
  requestedBy: string;
  triggerEventPk: number | null;
  counts: ErasureCounts;
  createdAt: Date;
  completedAt: Date | null;
}

const COLUMNS = `id, status, pending_action, paths, conditions_digest, conditions_sealed, up_to_event_pk, up_to_outbox_id,
  requested_by, trigger_event_pk, counts, created_at, completed_at`;

function map(x: Row): ErasureRow {
  return {
    id: Number(x.id),
    status: x.status === 'done' ? 'done' : 'waiting',
    pendingAction: x.pending_action === 'send' ? 'send' : 'cancel',
    paths: String(x.paths).split(',').filter(Boolean),
    conditionsDigest: x.conditions_digest as Buffer,
    conditionsSealed: x.conditions_sealed === null ? null : String(x.conditions_sealed),
    upToEventPk: Number(x.up_to_event_pk),
    upToOutboxId: Number(x.up_to_outbox_id),
    requestedBy: String(x.requested_by),
    triggerEventPk: x.trigger_event_pk === null ? null : Number(x.trigger_event_pk),
    counts: { ...NO_COUNTS, ...parseJsonColumn<Partial<ErasureCounts>>(x.counts, {}) },
    createdAt: toDate(x.created_at)!,
    completedAt: toDate(x.completed_at),
  };
}

export type NewErasure = Omit<ErasureRow, 'id' | 'createdAt' | 'completedAt' | 'counts' | 'status'>;

/** Records a request; null when it follows a student.deleted event another replica already followed. */
export async function insertErasure(conn: Queryable, t: Tables, e: NewErasure): Promise<number | null> {
  try {
    const r = await exec(
      conn,
      `INSERT INTO ${t.erasures} (status, pending_action, paths, conditions_digest, conditions_sealed, up_to_event_pk,
         up_to_outbox_id, requested_by, trigger_event_pk, counts)
       VALUES ('waiting', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        e.pendingAction,
        e.paths.join(',').slice(0, 1000),
        e.conditionsDigest,
        e.conditionsSealed,
        e.upToEventPk,
        e.upToOutboxId,
        e.requestedBy.slice(0, 191),
        e.triggerEventPk,
        JSON.stringify(NO_COUNTS),
      ],
    );
    return r.insertId;
  } catch (err) {
    // uq_trigger: this student.deleted event was followed already.
    if ((err as { errno?: number }).errno === 1062 && e.triggerEventPk !== null) return null;
    throw err;
  }
}

export async function getErasure(conn: Queryable, t: Tables, id: number): Promise<ErasureRow | null> {
  const [r] = await rows(conn, `SELECT ${COLUMNS} FROM ${t.erasures} WHERE id = ?`, [id]);
  return r ? map(r) : null;
}

export async function listErasures(conn: Queryable, t: Tables, limit: number): Promise<ErasureRow[]> {
  return (await rows(conn, `SELECT ${COLUMNS} FROM ${t.erasures} ORDER BY id DESC LIMIT ?`, [limit])).map(map);
}

/** The latest finished erasure of the same condition (a repeated request). */
export async function erasureByDigest(conn: Queryable, t: Tables, digest: Buffer): Promise<ErasureRow | null> {
  const [r] = await rows(
    conn,
    `SELECT ${COLUMNS} FROM ${t.erasures} WHERE conditions_digest = ? AND status = 'done' ORDER BY id DESC LIMIT 1`,
    [digest],
  );
  return r ? map(r) : null;
}

export async function waitingErasureIds(conn: Queryable, t: Tables): Promise<number[]> {
  return (await rows(conn, `SELECT id FROM ${t.erasures} WHERE status = 'waiting' ORDER BY id LIMIT 100`)).map((x) =>
    Number(x.id),
  );
}

/** Stores the counts so far; `done` also forgets the sealed condition. */
export async function recordProgress(
  conn: Queryable,
  t: Tables,
  id: number,
  counts: ErasureCounts,
  done: boolean,
): Promise<void> {
  await exec(
    conn,
    done
      ? `UPDATE ${t.erasures} SET counts = ?, status = 'done', conditions_sealed = NULL, completed_at = NOW(3) WHERE id = ?`
      : `UPDATE ${t.erasures} SET counts = ? WHERE id = ?`,
    [JSON.stringify(counts), id],
  );
}

/** The newest event and outbox row now: what a request covers. */
export async function highWaterMarks(conn: Queryable, t: Tables): Promise<{ eventPk: number; outboxId: number }> {
  const [ev] = await rows(conn, `SELECT COALESCE(MAX(id), 0) AS m FROM ${t.events}`);
  const [ob] = await rows(conn, `SELECT COALESCE(MAX(id), 0) AS m FROM ${t.outbox}`);
  return { eventPk: Number(ev!.m), outboxId: Number(ob!.m) };
}

/** About how many events the log holds (the primary key's span: no count over a large table). */
export async function eventSpan(conn: Queryable, t: Tables): Promise<number> {
  const [r] = await rows(conn, `SELECT COALESCE(MAX(id) - MIN(id) + 1, 0) AS n FROM ${t.events}`);
  return Number(r!.n);
}

/** Events carrying every one of these payload-search terms (candidates: the caller checks the values). */
export async function eventsWithTerms(conn: Queryable, t: Tables, terms: Buffer[]): Promise<number[]> {
  if (terms.length === 0) return [];
  const joins = terms
    .slice(1)
    .map((_, i) => `JOIN ${t.eventTerms} v${i + 1} ON v${i + 1}.event_pk = v0.event_pk AND v${i + 1}.term = ?`);
  const r = await rows(
    conn,
    `SELECT v0.event_pk FROM ${t.eventTerms} v0 ${joins.join(' ')} WHERE v0.term = ? ORDER BY v0.event_pk`,
    [...terms.slice(1), terms[0]],
  );
  return r.map((x) => Number(x.event_pk));
}

export interface StoredEvent {
  pk: number;
  outboxId: number | null;
  body: string;
}

export async function eventsByPk(conn: Queryable, t: Tables, pks: number[]): Promise<StoredEvent[]> {
  if (pks.length === 0) return [];
  return (await rows(conn, `SELECT id, outbox_id, body FROM ${t.events} WHERE id IN (?)`, [pks])).map((x) => ({
    pk: Number(x.id),
    outboxId: x.outbox_id === null ? null : Number(x.outbox_id),
    body: String(x.body),
  }));
}

/** Outbox rows not fanned out yet, up to `upTo`, after `after` (a page in id order). */
export async function unfannedOutbox(
  conn: Queryable,
  t: Tables,
  after: number,
  upTo: number,
  limit: number,
): Promise<{ id: number; payload: string }[]> {
  return (
    await rows(
      conn,
      `SELECT id, payload FROM ${t.outbox} WHERE fanned_out_at IS NULL AND id > ? AND id <= ? ORDER BY id LIMIT ?`,
      [after, upTo, limit],
    )
  ).map((x) => ({ id: Number(x.id), payload: String(x.payload) }));
}

/** Outbox rows erased before fan-out: marked processed and rejected with the reason, so no event is made of them. */
export async function rejectUnfanned(
  conn: Queryable,
  t: Tables,
  ids: number[],
  marker: string,
  reason: string,
): Promise<number> {
  if (ids.length === 0) return 0;
  const r = await exec(
    conn,
    `UPDATE ${t.outbox} SET payload = ?, fanned_out_at = NOW(3), rejected_reason = ?, delivery_count = 0
      WHERE id IN (?) AND fanned_out_at IS NULL`,
    [marker, reason, ids],
  );
  return r.affectedRows;
}

export interface DeliveryState {
  id: number;
  endpointId: number;
  status: string;
  claimed: boolean;
  orderingKey: string | null;
}

/** The deliveries of these events that are not finished: pending, waiting or paused. */
export async function unfinishedDeliveries(conn: Queryable, t: Tables, eventPks: number[]): Promise<DeliveryState[]> {
  if (eventPks.length === 0) return [];
  return (
    await rows(
      conn,
      `SELECT id, endpoint_id, status, claim_token IS NOT NULL AS claimed, ordering_key FROM ${t.deliveries}
        WHERE event_pk IN (?) AND status IN ('pending', 'waiting', 'paused')`,
      [eventPks],
    )
  ).map((x) => ({
    id: Number(x.id),
    endpointId: Number(x.endpoint_id),
    status: String(x.status),
    claimed: Number(x.claimed) === 1,
    orderingKey: x.ordering_key === null ? null : String(x.ordering_key),
  }));
}

/** Cancels deliveries not being sent right now, with the reason as their last error. */
export async function cancelDeliveries(conn: Queryable, t: Tables, ids: number[], reason: string): Promise<number> {
  if (ids.length === 0) return 0;
  const r = await exec(
    conn,
    `UPDATE ${t.deliveries} SET status = 'cancelled', next_attempt_at = NULL, completed_at = NOW(3), last_error = ?
      WHERE id IN (?) AND status IN ('pending', 'waiting', 'paused') AND claim_token IS NULL`,
    [reason, ids],
  );
  return r.affectedRows;
}

/** Overwrites these events' envelopes (new body per event) and drops their payload-search terms. */
export async function eraseEvents(
  conn: Queryable,
  t: Tables,
  bodies: Map<number, string>,
): Promise<{ events: number; terms: number }> {
  if (bodies.size === 0) return { events: 0, terms: 0 };
  const pks = [...bodies.keys()];
  const cases = pks.map(() => 'WHEN ? THEN ?').join(' ');
  const ev = await exec(conn, `UPDATE ${t.events} SET body = CASE id ${cases} END WHERE id IN (?)`, [
    ...pks.flatMap((pk) => [pk, bodies.get(pk)]),
    pks,
  ]);
  const terms = await exec(conn, `DELETE FROM ${t.eventTerms} WHERE event_pk IN (?)`, [pks]);
  return { events: ev.affectedRows, terms: terms.affectedRows };
}

/** Overwrites the LMS's outbox rows of erased events that are still kept. */
export async function eraseOutboxRows(conn: Queryable, t: Tables, ids: number[], marker: string): Promise<number> {
  if (ids.length === 0) return 0;
  const r = await exec(conn, `UPDATE ${t.outbox} SET payload = ? WHERE id IN (?) AND payload <> ?`, [
    marker,
    ids,
    marker,
  ]);
  return r.affectedRows;
}

/**
 * What the attempts of these events kept that may carry the payload: the
 * receiver's answer (its body and headers) and the request's own headers
 * (signatures computed over it); the shared header set, the outcome,
 * status code and timings stay.
 */
export async function eraseAttempts(conn: Queryable, t: Tables, eventPks: number[], marker: string): Promise<number> {
  if (eventPks.length === 0) return 0;
  const r = await exec(
    conn,
    `UPDATE ${t.attempts} a JOIN ${t.deliveries} d ON d.id = a.delivery_id
        SET a.request_headers = IF(a.request_header_set IS NULL, '{}', '[]'), a.response_headers = NULL,
            a.response_body = IF(a.response_body IS NULL, NULL, ?),
            a.error_message = IF(a.error_class = 'transformation', ?, a.error_message)
      WHERE d.event_pk IN (?) AND a.request_headers NOT IN ('{}', '[]')`,
    [marker, marker, eventPks],
  );
  return r.affectedRows;
}

/**
 * student.deleted events delivered to every endpoint (all their deliveries
 * succeeded) at least `afterSeconds` ago that no erasure has followed yet.
 */
export async function deletedStudentsDue(
  conn: Queryable,
  t: Tables,
  afterSeconds: number,
): Promise<{ pk: number; body: string }[]> {
  const r = await rows(
    conn,
    `SELECT ev.id, ev.body FROM ${t.events} ev JOIN (
        SELECT d.event_pk FROM ${t.deliveries} d LEFT JOIN ${t.erasures} e ON e.trigger_event_pk = d.event_pk
         WHERE d.event_type = 'student.deleted' AND e.id IS NULL
         GROUP BY d.event_pk
        HAVING SUM(d.status <> 'succeeded') = 0 AND MAX(d.completed_at) <= NOW(3) - INTERVAL ? SECOND
         LIMIT 100) due ON due.event_pk = ev.id`,
    [afterSeconds],
  );
  return r.map((x) => ({ pk: Number(x.id), body: String(x.body) }));
}
