/**
 * The delivery log: reading {prefix}webhook_deliveries for the pages and the
 * API, filtered by endpoint, status, event type, time and payload values.
 * The SQL builders are exported so the bench can time and explain them.
 */
import type { Queryable } from './sql.js';
import type { Tables } from './tables.js';
import type { Delivery, DeliveryStatus } from '../types.js';
import { likePrefix, rows, toDate, type Row } from './sql.js';
import { searchTerm } from './events.js';

const DELIVERY_COLUMNS = `d.id, d.endpoint_id, d.event_pk, ev.event_id, d.event_type, d.status, d.attempts, d.next_attempt_at,
  d.last_attempt_at, d.last_status_code, d.last_error, d.created_at, d.completed_at, d.ordering_key`;

function mapDelivery(x: Row): Delivery {
  return {
    id: Number(x.id),
    endpointId: Number(x.endpoint_id),
    eventPk: Number(x.event_pk),
    eventId: String(x.event_id),
    eventType: String(x.event_type),
    status: String(x.status) as DeliveryStatus,
    attempts: Number(x.attempts),
    nextAttemptAt: toDate(x.next_attempt_at),
    lastAttemptAt: toDate(x.last_attempt_at),
    lastStatusCode: x.last_status_code === null ? null : Number(x.last_status_code),
    lastError: x.last_error === null ? null : String(x.last_error),
    createdAt: toDate(x.created_at)!,
    completedAt: toDate(x.completed_at),
    orderingKey: x.ordering_key === null ? null : String(x.ordering_key),
  };
}

export interface DeliveryFilter {
  endpointId?: number;
  status?: DeliveryStatus;
  eventType?: string;
  eventId?: string;
  createdFrom?: Date;
  createdTo?: Date;
  /** Keyset cursor: only ids below this one (newest first). */
  beforeId?: number;
  /** Payload conditions, ANDed: [data.path, value] (event_terms). */
  data?: [string, string][];
  /**
   * How payload conditions are joined (see payloadPlan): 'lookup' reads the
   * matching events first (a rare value), 'walk' checks each delivery newest
   * first (a common one, so a page fills within a few hundred rows).
   */
  dataPlan?: 'lookup' | 'walk';
  limit: number;
}

/** Past this many events carrying a value, a log search walks deliveries instead of reading every match first. */
export const COMMON_VALUE = 2000;

/** payloadPlan's probe: how many events carry this value, counted up to COMMON_VALUE + 1 (exported for the bench). */
export function payloadProbeSql(t: Tables, path: string, value: string): { sql: string; params: unknown[] } {
  return {
    sql: `SELECT COUNT(*) AS n FROM (SELECT 1 FROM ${t.eventTerms} WHERE term = ? LIMIT ?) x`,
    params: [searchTerm(path, value), COMMON_VALUE + 1],
  };
}

/**
 * Which way to run a payload search: a value few events carry ("student_42")
 * is fastest read from idx_term first; one a tenth of all events carry
 * ("course_3") is fastest found while walking deliveries newest first, where
 * a page of 50 fills after ~500 rows instead of sorting 100,000 matches. One
 * bounded index probe per condition decides (at most COMMON_VALUE + 1 entries).
 */
export async function payloadPlan(conn: Queryable, t: Tables, data: [string, string][]): Promise<'lookup' | 'walk'> {
  for (const [path, value] of data) {
    const probe = payloadProbeSql(t, path, value);
    const [r] = await rows(conn, probe.sql, probe.params);
    // One rare condition is enough: the lookup reads its few events and checks the rest.
    if (Number(r?.n ?? 0) <= COMMON_VALUE) return 'lookup';
  }
  return 'walk';
}

/** The joins and WHERE of a log query (after FROM deliveries d STRAIGHT_JOIN events ev), shared by the page of rows and its count. */
function deliveryWhere(t: Tables, f: Omit<DeliveryFilter, 'limit'>): { sql: string; params: unknown[] } {
  const joins: string[] = [];
  const joinParams: unknown[] = [];
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (clause: string, value: unknown) => {
    where.push(clause);
    params.push(value);
  };
  if (f.endpointId !== undefined) add('d.endpoint_id = ?', f.endpointId);
  if (f.status !== undefined) add('d.status = ?', f.status);
  // As subscriptions take them: order.created, order.* (a prefix: idx_type range), or * (no condition).
  if (f.eventType !== undefined && f.eventType !== '*') {
    if (f.eventType.endsWith('.*')) add('d.event_type LIKE ?', likePrefix(f.eventType.slice(0, -1)));
    else add('d.event_type = ?', f.eventType);
  }
  if (f.eventId !== undefined) add('ev.event_id = ?', f.eventId);
  if (f.createdFrom !== undefined) add('d.created_at >= ?', f.createdFrom);
  if (f.createdTo !== undefined) add('d.created_at < ?', f.createdTo);
  if (f.beforeId !== undefined) add('d.id < ?', f.beforeId);
  for (const [i, [path, value]] of (f.data ?? []).entries()) {
    if (f.dataPlan === 'walk') {
      // Joined after d in STRAIGHT_JOIN order: one primary-key probe per delivery walked.
      joins.push(`STRAIGHT_JOIN ${t.eventTerms} v${i} ON v${i}.event_pk = d.event_pk AND v${i}.term = ?`);
      joinParams.push(searchTerm(path, value));
    } else {
      where.push(`d.event_pk IN (SELECT v.event_pk FROM ${t.eventTerms} v WHERE v.term = ?)`);
      params.push(searchTerm(path, value));
    }
  }
  return {
    sql: `${joins.join(' ')} ${where.length ? 'WHERE ' + where.join(' AND ') : ''}`,
    params: [...joinParams, ...params],
  };
}

/** The log's page query, exported so the bench times exactly what the pages run. */
export function listDeliveriesSql(t: Tables, f: DeliveryFilter): { sql: string; params: unknown[] } {
  const w = deliveryWhere(t, f);
  return {
    // STRAIGHT_JOIN: deliveries drive, so ORDER BY d.id DESC LIMIT walks an index
    // and stops after one page, whatever the optimizer guesses about events.
    sql: `SELECT ${DELIVERY_COLUMNS}
       FROM ${t.deliveries} d STRAIGHT_JOIN ${t.events} ev ON ev.id = d.event_pk
      ${w.sql}
      ORDER BY d.id DESC LIMIT ?`,
    params: [...w.params, f.limit],
  };
}

/** Newest first, keyset-paginated on id; every filter is an indexed equality. */
export async function listDeliveries(conn: Queryable, t: Tables, f: DeliveryFilter): Promise<Delivery[]> {
  const q = listDeliveriesSql(t, f);
  return (await rows(conn, q.sql, q.params)).map(mapDelivery);
}

/** The log's count query: matches counted up to `cap` (a bounded scan). */
export function countDeliveriesSql(
  t: Tables,
  f: Omit<DeliveryFilter, 'limit' | 'beforeId'>,
  cap: number,
): { sql: string; params: unknown[] } {
  const w = deliveryWhere(t, f);
  return {
    sql: `SELECT COUNT(*) AS n FROM (SELECT 1 FROM ${t.deliveries} d STRAIGHT_JOIN ${t.events} ev ON ev.id = d.event_pk ${w.sql} LIMIT ?) x`,
    params: [...w.params, cap + 1],
  };
}

/**
 * How many deliveries match, counted up to `cap` (past it the answer is
 * "more than cap"), so a count on a million rows stays cheap.
 */
export async function countDeliveries(
  conn: Queryable,
  t: Tables,
  f: Omit<DeliveryFilter, 'limit' | 'beforeId'>,
  cap: number,
): Promise<{ count: number; capped: boolean }> {
  const q = countDeliveriesSql(t, f, cap);
  const [r] = await rows(conn, q.sql, q.params);
  const n = Number(r?.n ?? 0);
  return { count: Math.min(n, cap), capped: n > cap };
}

/** Per delivery, the first line of its latest attempt's response body (at most 120 characters), where it kept one. */
export async function lastResponseLines(
  conn: Queryable,
  t: Tables,
  deliveryIds: number[],
): Promise<Map<number, string>> {
  if (deliveryIds.length === 0) return new Map();
  const r = await rows(
    conn,
    `SELECT a.delivery_id, LEFT(a.response_body, 400) AS head FROM ${t.attempts} a
       JOIN (SELECT delivery_id, MAX(id) AS id FROM ${t.attempts} WHERE delivery_id IN (?) GROUP BY delivery_id) m ON m.id = a.id
      WHERE a.response_body IS NOT NULL AND a.response_body <> ''`,
    [deliveryIds],
  );
  const out = new Map<number, string>();
  for (const x of r) {
    const line = String(x.head)
      .split(/\r?\n/)
      .find((l) => l.trim() !== '')
      ?.trim();
    if (line) out.set(Number(x.delivery_id), line.length > 120 ? line.slice(0, 119) + '…' : line);
  }
  return out;
}

export async function getDelivery(
  conn: Queryable,
  t: Tables,
  id: number,
): Promise<(Delivery & { body: string }) | null> {
  const [r] = await rows(
    conn,
    `SELECT ${DELIVERY_COLUMNS}, ev.body FROM ${t.deliveries} d JOIN ${t.events} ev ON ev.id = d.event_pk WHERE d.id = ?`,
    [id],
  );
  return r ? { ...mapDelivery(r), body: String(r.body) } : null;
}
