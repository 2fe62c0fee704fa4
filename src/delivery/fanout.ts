/**
 * Fan-out: outbox rows not yet fanned out become events and one delivery per
 * subscribed endpoint, in the same transaction that stamps the rows. A row
 * that cannot be accepted is stamped with its reason instead; it never stops
 * the batch, and it stays visible in the admin UI.
 */
import { randomBytes } from 'node:crypto';
import type { Pool, PoolConnection } from 'mysql2/promise';
import { withTransaction } from '../db/transaction.js';
import type { EventSite, Tables } from '../db/tables.js';
import { lockPending, markFannedOut, rejectRow, type OutboxOutcome, type OutboxRow } from '../db/outbox.js';
import { parseUtcDateTime } from '../db/sql.js';
import { existingEventIds, insertEvents, type NewEvent } from '../db/events.js';
import { insertDeliveries, type NewDelivery } from '../db/deliveries.js';
import { listEndpointRoutes, lockEndpoints } from '../db/endpoints.js';
import { admitHeads, yieldToEarlier } from '../db/ordering.js';
import { dataProblem } from './schemas.js';
import { CATALOG } from '../catalog.js';
import { subscribed } from './subscriptions.js';
import { filterMatches } from './filters.js';
import type { EndpointRoute } from '../db/endpoints.js';

export function newEventId(): string {
  return 'evt_' + randomBytes(16).toString('base64url');
}

/** RFC 3339 in UTC to the second, as the contract's example: 2025-03-20T10:30:00Z. */
export function formatTimestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The envelope bytes. `data` is spliced in as the LMS wrote it (already
 * checked to be valid JSON), so nothing is lost or reordered by a round trip
 * through JSON.parse/stringify, and deeply nested payloads cannot blow the stack.
 */
export function buildEnvelope(
  eventId: string,
  eventType: string,
  occurredAt: Date,
  dataJson: string,
  site?: EventSite,
): string {
  const siteJson = site ? `,"site":{"id":${site.id},"url":${JSON.stringify(site.url)}}` : '';
  return `{"id":${JSON.stringify(eventId)},"event":${JSON.stringify(eventType)},"created_at":"${formatTimestamp(occurredAt)}","data":${dataJson.trim()}${siteJson}}`;
}

/**
 * A catalog type's example as the envelope a receiver gets: what REST hook
 * samples and "Try it" show before any real event of that type exists.
 */
export function exampleEnvelope(eventType: string): string {
  const example = CATALOG.find((c) => c.type === eventType)?.example ?? {};
  return buildEnvelope(
    `evt_sample_${eventType.replace('.', '_')}`,
    eventType,
    new Date('2025-03-20T10:30:00Z'),
    JSON.stringify(example),
  );
}

/** Lengths of our own columns (events.event_type, events.event_id). */
export const MAX_EVENT_TYPE_CHARS = 191;
export const MAX_EVENT_ID_CHARS = 64;
/** deliveries.ordering_key: VARCHAR(191), as the contract's outbox column. */
export const MAX_ORDERING_KEY_CHARS = 191;
/**
 * Type and id travel in X-Webhook-Event and X-Webhook-Id, so they keep to
 * printable ASCII without spaces: Node refuses anything else in a header
 * value (ERR_INVALID_CHAR) and Latin-1 would reach receivers as mojibake.
 */
const HEADER_TOKEN = /^[\x21-\x7e]+$/;

/** Names the first character a header cannot carry, as U+XXXX at its position. */
function badCharacter(s: string): string {
  const chars = [...s];
  const i = chars.findIndex((c) => !HEADER_TOKEN.test(c));
  const cp = chars[i]!.codePointAt(0)!;
  const name =
    cp === 0x20 ? 'a space' : cp < 0x20 || cp === 0x7f ? 'a control character' : 'a character outside printable ASCII';
  return `${name} (U+${cp.toString(16).toUpperCase().padStart(4, '0')}) at position ${i + 1}`;
}

const quote = (s: string) => JSON.stringify(s.length > 80 ? s.slice(0, 80) + '…' : s);

/** What fan-out makes of one row on its own (before ids are compared with other rows). */
export type RowJudgement =
  | { ok: false; reason: string }
  | {
      ok: true;
      occurredAt: Date;
      insertedAt: Date;
      note: string | null;
      orderingKey: string | null;
      /** Its data does not fit its catalog type's schema (delivered anyway, and noted). */
      schemaMismatch: boolean;
    };

/** Checks every column fan-out reads; pure, so each rule has a test without a database. */
export function judgeRow(
  row: OutboxRow,
  maxPayloadBytes: number,
  now: Date = new Date(),
  statementBytes = Infinity,
): RowJudgement {
  const no = (reason: string): RowJudgement => ({ ok: false, reason: reason.slice(0, 500) });
  if (row.eventTypeChars === 0 || row.eventType.trim() === '') return no('event_type is empty');
  if (row.eventTypeChars > MAX_EVENT_TYPE_CHARS)
    return no(`event_type is ${row.eventTypeChars} characters; at most ${MAX_EVENT_TYPE_CHARS} fit`);
  if (!HEADER_TOKEN.test(row.eventType)) {
    return no(
      `event_type ${quote(row.eventType)} has ${badCharacter(row.eventType)}; it is sent in the X-Webhook-Event header, which takes printable ASCII without spaces`,
    );
  }
  if (row.eventId !== null) {
    if (row.eventIdChars === 0) return no('event_id is an empty string; leave it NULL to have one assigned');
    if (row.eventIdChars > MAX_EVENT_ID_CHARS)
      return no(`event_id is ${row.eventIdChars} characters; at most ${MAX_EVENT_ID_CHARS} fit`);
    if (!HEADER_TOKEN.test(row.eventId)) {
      return no(
        `event_id ${quote(row.eventId)} has ${badCharacter(row.eventId)}; it is sent in the X-Webhook-Id header, which takes printable ASCII without spaces`,
      );
    }
  }
  // An over-long key is refused rather than cut: two keys cut to the same
  // prefix would serialise unrelated students, a silent change of meaning.
  if (row.orderingKeyChars > MAX_ORDERING_KEY_CHARS)
    return no(`ordering_key is ${row.orderingKeyChars} characters; at most ${MAX_ORDERING_KEY_CHARS} fit`);
  if (row.payload === null) {
    if (row.payloadBytes > maxPayloadBytes)
      return no(`payload is ${row.payloadBytes} bytes, over the max_payload_bytes limit of ${maxPayloadBytes}`);
    if (row.payloadBytes > statementBytes) {
      return no(
        `payload is ${row.payloadBytes} bytes, more than this database server takes in one statement once escaped (${statementBytes} bytes at its max_allowed_packet); raise max_allowed_packet, then replay the row`,
      );
    }
    return no('payload is NULL; it must be JSON text');
  }
  let data: unknown;
  try {
    data = JSON.parse(row.payload);
  } catch (err) {
    return no(`payload is not valid JSON: ${(err as Error).message}`);
  }
  const drift = dataProblem(row.eventType, data);
  // inserted_at is UTC by construction; created_at only when the LMS session ran in UTC (rows from before inserted_at).
  const insertedAt = parseUtcDateTime(row.insertedAtText) ?? parseUtcDateTime(row.createdAtText) ?? now;
  const occurredAt = parseUtcDateTime(row.occurredAtText);
  const notes = [
    row.occurredAtText !== null && occurredAt === null
      ? `occurred_at ${quote(row.occurredAtText)} is not a real time; the insertion time was used instead`
      : null,
    drift,
  ].filter((x): x is string => x !== null);
  const note = notes.length ? notes.join('; ').slice(0, 500) : null;
  // An empty key means "no key", as NULL does: it holds nothing back.
  const orderingKey = row.orderingKey === null || row.orderingKey === '' ? null : row.orderingKey;
  return {
    ok: true,
    occurredAt: occurredAt ?? insertedAt,
    insertedAt,
    note,
    orderingKey,
    schemaMismatch: drift !== null,
  };
}

export interface FanoutResult {
  rows: number;
  /** True when the batch stopped at the byte budget rather than the row limit. */
  truncated: boolean;
  accepted: number;
  rejected: number;
  deliveries: number;
  /** Of those, deliveries put in line behind an ordering key (their head is due once settled). */
  inLine: number;
  /** The event types of accepted rows whose data did not fit their catalog schema. */
  mismatched: string[];
}

export interface FanoutOptions {
  limit: number;
  maxPayloadBytes: number;
  /** Whether the outbox has the optional ordering_key column. */
  withOrderingKey?: boolean;
  /** What one statement may carry on this server (statementBudget); BATCH_BYTES when not given. */
  statementBytes?: number;
}

const EMPTY: FanoutResult = {
  rows: 0,
  truncated: false,
  accepted: 0,
  rejected: 0,
  deliveries: 0,
  inLine: 0,
  mismatched: [],
};

/** A batch the database refused, with the rows it held, so they can be tried apart. */
export class BatchRefusedError extends Error {
  override name = 'BatchRefusedError';
  constructor(
    readonly ids: number[],
    cause: unknown,
  ) {
    super(`the database refused a fan-out batch of ${ids.length} rows: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Errors a row's content can cause: data exceptions (SQLSTATE 22…), integrity
 * violations (23…: a duplicate key another process inserted meanwhile), a
 * trigger's SIGNAL (45000) and "incorrect string value" (1366, HY000).
 * Anything else (a missing table, lost privileges) is the database's
 * trouble, not one row's, and must not get rows rejected.
 */
export function isRowError(err: unknown): boolean {
  const e = err as { sqlState?: string; errno?: number } | null;
  if (!e || typeof e !== 'object' || typeof e.sqlState !== 'string') return false;
  return /^(22|23|45)/.test(e.sqlState) || e.errno === 1366;
}

/**
 * One fan-out batch in one transaction. Rows are judged first; a row the
 * database still refuses makes the whole transaction fail with a
 * BatchRefusedError naming the batch's rows.
 */
export async function fanOutBatch(
  pool: Pool,
  t: Tables,
  opts: FanoutOptions,
  onlyIds?: readonly number[],
): Promise<FanoutResult> {
  let ids: number[] = [];
  try {
    return await withTransaction(pool, async (conn) => {
      const { rows: batch, truncated } = await lockPending(
        conn,
        t,
        opts.limit,
        opts.maxPayloadBytes,
        onlyIds,
        opts.withOrderingKey,
        opts.statementBytes,
      );
      ids = batch.map((r) => r.id);
      if (batch.length === 0) return EMPTY;
      return await fanOutRows(conn, t, batch, truncated, opts);
    });
  } catch (err) {
    if (isRowError(err) && ids.length > 0) throw new BatchRefusedError(ids, err);
    throw err;
  }
}

async function fanOutRows(
  conn: PoolConnection,
  t: Tables,
  batch: OutboxRow[],
  truncated: boolean,
  opts: FanoutOptions,
): Promise<FanoutResult> {
  const endpoints = await listEndpointRoutes(conn, t);
  const { outcomes, events, targets, mismatched } = acceptRows(
    batch,
    opts,
    endpoints,
    await earlierEventIds(conn, t, batch),
    t.site,
  );
  const pks = await insertEvents(conn, t, events);
  // Ordered endpoints with keyed events in this batch: locked, and their flag read under the lock.
  const ordered = await lockEndpoints(
    conn,
    t,
    events
      .filter((ev) => ev.orderingKey !== null)
      .flatMap((ev) => (targets.get(ev.eventId) ?? []).filter((ep) => ep.ordered).map((ep) => ep.id)),
  );
  const { deliveries, lines } = planDeliveries(events, targets, pks, ordered);
  await insertDeliveries(conn, t, deliveries);
  for (const [endpointId, keys] of lines) {
    await yieldToEarlier(conn, t, endpointId, keys);
    await admitHeads(conn, t, endpointId, ordered.get(endpointId)!.enabled, [...keys.keys()]);
  }
  await markFannedOut(conn, t, outcomes);
  return {
    rows: batch.length,
    truncated,
    accepted: events.length,
    rejected: batch.length - events.length,
    deliveries: deliveries.length,
    inLine: deliveries.filter((d) => d.status === 'waiting').length,
    mismatched,
  };
}

type AcceptedEvent = NewEvent & { orderingKey: string | null; outboxId: number };

/** The batch's given event ids already stored, by their lower-case form (ids compare in any letter case, as our utf8mb4_unicode_ci unique key does). */
async function earlierEventIds(conn: PoolConnection, t: Tables, batch: OutboxRow[]): Promise<Map<string, string>> {
  const given = batch.map((r) => r.eventId).filter((x): x is string => x !== null && x.length <= MAX_EVENT_ID_CHARS);
  return new Map([...(await existingEventIds(conn, t, given))].map((id) => [id.toLowerCase(), id]));
}

/**
 * Judges each row: rejected with the reason (bad content, an event id used
 * before or twice in the batch), or accepted as an event with the endpoints
 * it goes to.
 */
function acceptRows(
  batch: OutboxRow[],
  opts: FanoutOptions,
  endpoints: EndpointRoute[],
  earlier: Map<string, string>,
  site: EventSite | undefined,
) {
  const inBatch = new Map<string, number>();
  const outcomes: OutboxOutcome[] = [];
  const events: AcceptedEvent[] = [];
  const targets = new Map<string, EndpointRoute[]>();
  const mismatched: string[] = [];
  for (const row of batch) {
    const j = judgeRow(row, opts.maxPayloadBytes, undefined, opts.statementBytes);
    let reason = j.ok ? null : j.reason;
    if (j.ok && row.eventId !== null) {
      const key = row.eventId.toLowerCase();
      const past = earlier.get(key);
      const sibling = inBatch.get(key);
      if (past !== undefined) {
        reason = `event_id ${quote(row.eventId)} was already used by an earlier event (${quote(past)}; ids compare in any letter case); receivers dedupe on it, so this row is not sent`;
      } else if (sibling !== undefined) {
        reason = `event_id ${quote(row.eventId)} was already used by outbox row ${sibling} (ids compare in any letter case); receivers dedupe on it, so this row is not sent`;
      } else inBatch.set(key, row.id);
    }
    if (!j.ok || reason) {
      outcomes.push({ id: row.id, eventId: null, rejectedReason: reason, note: null, deliveryCount: 0 });
      continue;
    }
    if (j.schemaMismatch) mismatched.push(row.eventType);
    const eventId = row.eventId ?? newEventId();
    // The envelope's created_at is the insertion instant (the contract); occurred_at, the business time, is kept beside it.
    const body = buildEnvelope(eventId, row.eventType, j.insertedAt, row.payload!, site);
    events.push({
      eventId,
      eventType: row.eventType,
      outboxId: row.id,
      body,
      occurredAt: j.occurredAt,
      orderingKey: j.orderingKey,
    });
    const subs = endpointsFor(endpoints, row.eventType, body);
    targets.set(eventId, subs);
    outcomes.push({ id: row.id, eventId, rejectedReason: null, note: j.note, deliveryCount: subs.length });
  }
  return { outcomes, events, targets, mismatched };
}

/**
 * One delivery per event and endpoint. Keyed events to an ordered endpoint
 * wait in line (admitHeads makes the first pending); `lines` gives each such
 * endpoint's keys with their lowest new seq. Disabled endpoints still get the
 * delivery, paused, so it can be sent after re-enabling.
 */
function planDeliveries(
  events: AcceptedEvent[],
  targets: Map<string, EndpointRoute[]>,
  pks: Map<string, number>,
  ordered: Map<number, { ordered: boolean; enabled: boolean }>,
) {
  const lines = new Map<number, Map<string, number>>();
  const deliveries: NewDelivery[] = [];
  for (const ev of events) {
    const eventPk = pks.get(ev.eventId.toLowerCase())!;
    for (const ep of targets.get(ev.eventId) ?? []) {
      if (ep.type === 'polling') {
        // Polled in delivery order: never due for a push, never held in an ordering line.
        deliveries.push({ endpointId: ep.id, eventPk, eventType: ev.eventType, status: 'pending', polled: true });
        continue;
      }
      if (ev.orderingKey !== null && ordered.get(ep.id)?.ordered) {
        deliveries.push({
          endpointId: ep.id,
          eventPk,
          eventType: ev.eventType,
          status: 'waiting',
          orderingKey: ev.orderingKey,
          seq: ev.outboxId,
        });
        const keys = lines.get(ep.id) ?? new Map<string, number>();
        lines.set(ep.id, keys);
        if (!keys.has(ev.orderingKey)) keys.set(ev.orderingKey, ev.outboxId); // rows come in id order
        continue;
      }
      deliveries.push({
        endpointId: ep.id,
        eventPk,
        eventType: ev.eventType,
        status: ep.enabled ? 'pending' : 'paused',
      });
    }
  }
  return { deliveries, lines };
}

/**
 * The endpoints an event goes to: subscribed to its type, and matching their
 * filter. The envelope is parsed once, only when some subscriber has a filter.
 */
export function endpointsFor(endpoints: readonly EndpointRoute[], eventType: string, body: string): EndpointRoute[] {
  let envelope: unknown;
  let parsed = false;
  return endpoints.filter((e) => {
    if (!subscribed(e.events, eventType)) return false;
    if (e.filter === null) return true;
    if (!parsed) {
      envelope = JSON.parse(body); // fan-out checked the payload is valid JSON
      parsed = true;
    }
    return filterMatches(e.filter, envelope);
  });
}

/**
 * Fans out one batch; when the database refuses it, splits it in halves
 * until the refused row stands alone, stamps that row rejected with the
 * database's own words, and goes on with the rest. A bad row costs about
 * 2·log2(batch) short transactions once, instead of stalling every tick.
 */
export async function fanOutIsolating(
  pool: Pool,
  t: Tables,
  opts: FanoutOptions,
  onRefused?: (id: number, reason: string) => void,
  onlyIds?: readonly number[],
): Promise<FanoutResult> {
  try {
    return await fanOutBatch(pool, t, onlyIds ? { ...opts, limit: onlyIds.length } : opts, onlyIds);
  } catch (err) {
    if (!(err instanceof BatchRefusedError)) throw err;
    return isolate(pool, t, opts, err, onRefused);
  }
}

async function isolate(
  pool: Pool,
  t: Tables,
  opts: FanoutOptions,
  refused: BatchRefusedError,
  onRefused?: (id: number, reason: string) => void,
): Promise<FanoutResult> {
  const { ids } = refused;
  if (ids.length === 1) {
    const reason = `the database refused this row: ${(refused.cause as Error).message}`;
    const done = await withTransaction(pool, (conn) => rejectRow(conn, t, ids[0]!, reason));
    if (done) onRefused?.(ids[0]!, reason);
    return { ...EMPTY, rows: done ? 1 : 0, rejected: done ? 1 : 0 };
  }
  const half = Math.ceil(ids.length / 2);
  let total = EMPTY;
  for (const part of [ids.slice(0, half), ids.slice(half)]) {
    const r = await fanOutIsolating(pool, t, opts, onRefused, part);
    total = {
      rows: total.rows + r.rows,
      truncated: total.truncated || r.truncated,
      accepted: total.accepted + r.accepted,
      rejected: total.rejected + r.rejected,
      deliveries: total.deliveries + r.deliveries,
      inLine: total.inLine + r.inLine,
      mismatched: [...total.mismatched, ...r.mismatched],
    };
  }
  return total;
}
