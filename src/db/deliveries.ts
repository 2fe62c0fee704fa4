/**
 * {prefix}webhook_deliveries: one row per event per endpoint, with the
 * backoff columns. Claims, completions and inserts are multi-row statements:
 * MariaDB does ~900 single-row transactions/s here but 12,000+ rows/s batched.
 *
 * Claiming: due rows are locked with FOR UPDATE SKIP LOCKED (so two processes
 * never take the same row), stamped with a claim token and pushed to their
 * lease expiry in the same short transaction, and committed before any HTTP.
 * A claimed row stays `pending`: if its process dies, the row is simply due
 * again once the lease runs out. Completions match on the claim token, so a
 * process that lost its lease cannot overwrite the row's newer state.
 */
import type { Pool } from 'mysql2/promise';
import type { Queryable } from './pool.js';
import { withTransaction } from './pool.js';
import type { Tables } from './tables.js';
import type { Delivery, DeliveryStatus, EndpointAuth } from '../types.js';
import { exec, likePrefix, parseJsonColumn, parseUtcDateTime, rows, toDate, valuesTable, type Row } from './sql.js';

export interface NewDelivery {
  endpointId: number;
  eventPk: number;
  eventType: string;
  status: 'pending' | 'paused' | 'waiting';
  /** Ordered endpoints only: the event's ordering_key and its place in line (the outbox id). */
  orderingKey?: string | null;
  seq?: number | null;
}

export async function insertDeliveries(conn: Queryable, t: Tables, ds: NewDelivery[]): Promise<void> {
  // 1,000 rows a statement keeps each packet far below max_allowed_packet.
  for (let i = 0; i < ds.length; i += 1000) {
    const chunk = ds.slice(i, i + 1000);
    const placeholders = chunk
      .map((d) => (d.status === 'pending' ? '(?, ?, ?, ?, NOW(3), ?, ?)' : '(?, ?, ?, ?, NULL, ?, ?)'))
      .join(', ');
    await exec(
      conn,
      `INSERT INTO ${t.deliveries} (endpoint_id, event_pk, event_type, status, next_attempt_at, ordering_key, seq) VALUES ${placeholders}`,
      chunk.flatMap((d) => [d.endpointId, d.eventPk, d.eventType, d.status, d.orderingKey ?? null, d.seq ?? null]),
    );
  }
}

export interface ClaimedDelivery {
  id: number;
  /** Attempts made so far, over every replay: the next one is attempts + 1. */
  attempts: number;
  /** attempts at the last replay: the retry schedule counts from here. */
  retryBase: number;
  endpointId: number;
  eventId: string;
  eventType: string;
  body: string;
  url: string;
  secrets: string[];
  endpointEnabled: boolean;
  claimToken: string;
  /** Set when this delivery heads a key of an ordered endpoint: its completion admits the next. */
  orderingKey: string | null;
  /** The start time its endpoint's rate limit booked for it (local ms; 0 = at once). */
  notBefore: number;
  /** The endpoint's options that shape the request and its retries. */
  extraHeaders: Record<string, string> | null;
  auth: EndpointAuth | null;
  timeoutSeconds: number | null;
  retryScheduleSeconds: number[] | null;
  /** Ed25519 private key (PKCS#8 base64) when the endpoint signs with Ed25519. */
  ed25519Key: string | null;
}

export interface ClaimRequest {
  limit: number;
  leaseMs: number;
  token: string;
  worker: string;
  /** Endpoints this process already has at their cap; their rows are left for later. */
  excludeEndpoints: number[];
  /** Free slots per endpoint, so one claim never takes more than an endpoint can take now. */
  freeSlots: (endpointId: number) => number;
}

export interface ClaimResult {
  claimed: ClaimedDelivery[];
  /** True when fewer rows were due than asked for: nothing more to claim right now. */
  exhausted: boolean;
  /** Rate-limited endpoints with due rows left behind: no start time free before this (local ms). */
  rateHeld: Map<number, number>;
}

/** How far ahead a claim books rate-limited start times: rows wait in memory at most this long. */
export const RATE_HORIZON_MS = 1000;

/**
 * Books start times for `wanted` rows per rate-limited endpoint, spaced
 * 1/rate apart from the endpoint's next free start, up to RATE_HORIZON_MS
 * ahead, under the row lock of its rate_limits row (so replicas share one
 * pace). Returns the start times granted per endpoint (database clock, ms)
 * and the database's now.
 */
async function bookStarts(
  conn: Queryable,
  t: Tables,
  wanted: Map<number, { rate: number; count: number }>,
): Promise<{ now: number; starts: Map<number, { granted: number[]; next: number }> }> {
  const ids = [...wanted.keys()];
  await exec(conn, `INSERT IGNORE INTO ${t.rateLimits} (endpoint_id, next_start_at) VALUES ?`, [
    ids.map((id) => [id, new Date(0)]),
  ]);
  const r = await rows(
    conn,
    `SELECT endpoint_id, CAST(next_start_at AS CHAR) AS next_start, CAST(NOW(3) AS CHAR) AS now FROM ${t.rateLimits} WHERE endpoint_id IN (?) FOR UPDATE`,
    [ids],
  );
  const starts = new Map<number, { granted: number[]; next: number }>();
  let now = Date.now();
  const updates: [number, Date][] = [];
  for (const x of r) {
    const id = Number(x.endpoint_id);
    now = parseUtcDateTime(x.now)?.getTime() ?? now;
    const w = wanted.get(id)!;
    const gap = 1000 / w.rate;
    let next = Math.max(now, parseUtcDateTime(x.next_start)?.getTime() ?? 0);
    const got: number[] = [];
    while (got.length < w.count && next <= now + RATE_HORIZON_MS) {
      got.push(next);
      next += gap;
    }
    starts.set(id, { granted: got, next });
    if (got.length) updates.push([id, new Date(next)]);
  }
  if (updates.length) {
    const v = valuesTable(['id', 'next'], updates);
    await exec(
      conn,
      `UPDATE ${t.rateLimits} r JOIN ${v.sql} v ON r.endpoint_id = v.id SET r.next_start_at = v.next`,
      v.params,
    );
  }
  return { now, starts };
}

export async function claimDue(pool: Pool, t: Tables, req: ClaimRequest): Promise<ClaimResult> {
  let exhausted = true;
  const notBefore = new Map<number, number>();
  const rateHeld = new Map<number, number>();
  const ids = await withTransaction(pool, async (conn) => {
    const exclude = req.excludeEndpoints.length ? 'AND endpoint_id NOT IN (?)' : '';
    const params: unknown[] = req.excludeEndpoints.length ? [req.excludeEndpoints, req.limit] : [req.limit];
    const candidates = await rows(
      conn,
      // FORCE INDEX: read due rows in idx_due order and stop at LIMIT. On a small or
      // freshly filled table MySQL may otherwise scan another index and filesort,
      // and FOR UPDATE then locks every matching row it read, not just LIMIT of
      // them: a second claimer skips them all and claims nothing.
      `SELECT id, endpoint_id FROM ${t.deliveries} FORCE INDEX (idx_due)
        WHERE status = 'pending' AND next_attempt_at <= NOW(3) ${exclude}
        ORDER BY next_attempt_at
        LIMIT ?
        FOR UPDATE SKIP LOCKED`,
      params,
    );
    exhausted = candidates.length < req.limit;
    let taken: { id: number; ep: number }[] = [];
    const perEndpoint = new Map<number, number>();
    for (const c of candidates) {
      const ep = Number(c.endpoint_id);
      const n = perEndpoint.get(ep) ?? 0;
      if (n >= req.freeSlots(ep)) continue;
      perEndpoint.set(ep, n + 1);
      taken.push({ id: Number(c.id), ep });
    }
    // The limit in force is the one in the database now, not a cached copy: an endpoint
    // created or lowered a moment ago is paced from its first claim, on every replica.
    const wanted = new Map<number, { rate: number; count: number }>();
    if (perEndpoint.size > 0) {
      const limited = await rows(
        conn,
        `SELECT id, rate_limit_per_second FROM ${t.endpoints} WHERE id IN (?) AND rate_limit_per_second IS NOT NULL`,
        [[...perEndpoint.keys()]],
      );
      for (const x of limited) {
        const ep = Number(x.id);
        wanted.set(ep, { rate: Number(x.rate_limit_per_second), count: perEndpoint.get(ep)! });
      }
    }
    if (wanted.size > 0) {
      const { now, starts } = await bookStarts(conn, t, wanted);
      const offset = Date.now() - now; // database clock → this process's clock
      const left = new Map([...starts].map(([ep, s]) => [ep, [...s.granted]]));
      taken = taken.filter((x) => {
        if (!wanted.has(x.ep)) return true;
        const at = left.get(x.ep)?.shift();
        if (at !== undefined) notBefore.set(x.id, at + offset);
        return at !== undefined;
      });
      for (const [ep, s] of starts) {
        // Rows left behind: leave this endpoint out of claims until its next start is within the horizon.
        if (s.granted.length < wanted.get(ep)!.count) rateHeld.set(ep, s.next - RATE_HORIZON_MS + offset);
      }
    }
    if (taken.length === 0) return [];
    await exec(
      conn,
      `UPDATE ${t.deliveries}
          SET claim_token = ?, claimed_by = ?, next_attempt_at = DATE_ADD(NOW(3), INTERVAL ? MICROSECOND)
        WHERE id IN (?)`,
      [req.token, req.worker, req.leaseMs * 1000, taken.map((x) => x.id)],
    );
    return taken.map((x) => x.id);
  });
  if (ids.length === 0) return { claimed: [], exhausted, rateHeld };
  const r = await rows(
    pool,
    `SELECT d.id, d.attempts, d.retry_base, d.endpoint_id, d.ordering_key, ev.event_id, ev.event_type, ev.body,
            ep.url, ep.secret, ep.previous_secret, ep.previous_secret_expires_at > NOW(3) AS previous_valid, ep.enabled,
            ep.headers, ep.auth, ep.timeout_seconds, ep.retry_schedule_seconds, ep.signing, ep.signing_key
       FROM ${t.deliveries} d
       JOIN ${t.events} ev ON ev.id = d.event_pk
       JOIN ${t.endpoints} ep ON ep.id = d.endpoint_id
      WHERE d.id IN (?) AND d.claim_token = ?`,
    [ids, req.token],
  );
  const claimed = r.map((x) => ({
    id: Number(x.id),
    attempts: Number(x.attempts),
    retryBase: Number(x.retry_base),
    endpointId: Number(x.endpoint_id),
    eventId: String(x.event_id),
    eventType: String(x.event_type),
    body: String(x.body),
    url: String(x.url),
    secrets:
      x.previous_secret && Number(x.previous_valid) === 1
        ? [String(x.secret), String(x.previous_secret)]
        : [String(x.secret)],
    endpointEnabled: Number(x.enabled) === 1,
    claimToken: req.token,
    orderingKey: x.ordering_key === null ? null : String(x.ordering_key),
    notBefore: notBefore.get(Number(x.id)) ?? 0,
    extraHeaders: parseJsonColumn<Record<string, string> | null>(x.headers, null),
    auth: parseJsonColumn<EndpointAuth | null>(x.auth, null),
    timeoutSeconds: x.timeout_seconds === null ? null : Number(x.timeout_seconds),
    retryScheduleSeconds: parseJsonColumn<number[] | null>(x.retry_schedule_seconds, null),
    ed25519Key: x.signing === 'ed25519' && x.signing_key !== null ? String(x.signing_key) : null,
  }));
  return { claimed, exhausted, rateHeld };
}

export interface Completion {
  id: number;
  claimToken: string;
  /** pending = retry after delayMs; paused = endpoint disabled meanwhile. */
  status: Exclude<DeliveryStatus, 'waiting'>;
  delayMs: number | null;
  /** false when no request was made (endpoint found disabled): the row is paused, no attempt counted. */
  attempted: boolean;
  startedAt: Date;
  statusCode: number | null;
  error: string | null;
}

/**
 * Applies completions in one statement. Only rows still holding the same
 * claim token change. A retry for an endpoint that was disabled meanwhile
 * becomes paused instead.
 */
export async function completeDeliveries(conn: Queryable, t: Tables, cs: Completion[]): Promise<number> {
  if (cs.length === 0) return 0;
  const v = valuesTable(
    ['id', 'token', 'status', 'delay_us', 'inc', 'started', 'code', 'err'],
    cs.map((c) => [
      c.id,
      c.claimToken,
      c.status,
      c.delayMs === null ? null : Math.round(c.delayMs * 1000),
      c.attempted ? 1 : 0,
      c.startedAt,
      c.statusCode,
      c.error?.slice(0, 1000) ?? null,
    ]),
  );
  const r = await exec(
    conn,
    `UPDATE ${t.deliveries} d
       JOIN ${v.sql} v ON d.id = v.id AND d.claim_token = v.token
       JOIN ${t.endpoints} ep ON ep.id = d.endpoint_id
        SET d.status = IF(v.status = 'pending' AND ep.enabled = 0, 'paused', v.status),
            d.next_attempt_at = IF(v.status = 'pending' AND ep.enabled = 1, DATE_ADD(NOW(3), INTERVAL v.delay_us MICROSECOND), NULL),
            d.attempts = d.attempts + v.inc,
            d.claim_token = NULL,
            d.claimed_by = NULL,
            d.last_attempt_at = IF(v.inc = 1, v.started, d.last_attempt_at),
            d.last_status_code = IF(v.inc = 1, v.code, d.last_status_code),
            d.last_error = IF(v.inc = 1, v.err, d.last_error),
            d.completed_at = IF(v.status IN ('succeeded', 'failed'), NOW(3), NULL)`,
    v.params,
  );
  return r.affectedRows;
}

/** Gives claimed rows back without counting an attempt (shutdown before sending). */
export async function releaseClaims(
  conn: Queryable,
  t: Tables,
  claims: { id: number; claimToken: string }[],
): Promise<void> {
  if (claims.length === 0) return;
  // Only rows still holding one of these (this process's) tokens go back.
  await exec(
    conn,
    `UPDATE ${t.deliveries} SET claim_token = NULL, claimed_by = NULL, next_attempt_at = NOW(3)
      WHERE id IN (?) AND claim_token IN (?)`,
    [claims.map((c) => c.id), [...new Set(claims.map((c) => c.claimToken))]],
  );
}

const BATCH = 1000;

/** Pending → paused for a disabled endpoint, in small batches. In-flight rows are paused when they complete. */
export async function pauseForEndpoint(conn: Queryable, t: Tables, endpointId: number): Promise<number> {
  let total = 0;
  for (;;) {
    const r = await exec(
      conn,
      `UPDATE ${t.deliveries} SET status = 'paused', next_attempt_at = NULL
        WHERE endpoint_id = ? AND status = 'pending' AND claim_token IS NULL LIMIT ${BATCH}`,
      [endpointId],
    );
    total += r.affectedRows;
    if (r.affectedRows < BATCH) return total;
  }
}

/** Paused → pending (due now) after an endpoint is re-enabled. */
export async function resumeForEndpoint(conn: Queryable, t: Tables, endpointId: number): Promise<number> {
  let total = 0;
  for (;;) {
    const r = await exec(
      conn,
      `UPDATE ${t.deliveries} SET status = 'pending', next_attempt_at = NOW(3)
        WHERE endpoint_id = ? AND status = 'paused' LIMIT ${BATCH}`,
      [endpointId],
    );
    total += r.affectedRows;
    if (r.affectedRows < BATCH) return total;
  }
}

export async function deleteForEndpoint(conn: Queryable, t: Tables, endpointId: number): Promise<void> {
  for (;;) {
    const ids = (
      await rows(conn, `SELECT id FROM ${t.deliveries} WHERE endpoint_id = ? LIMIT ${BATCH}`, [endpointId])
    ).map((x) => Number(x.id));
    if (ids.length === 0) return;
    await exec(conn, `DELETE FROM ${t.attempts} WHERE delivery_id IN (?)`, [ids]);
    await exec(conn, `DELETE FROM ${t.deliveries} WHERE id IN (?)`, [ids]);
  }
}

/**
 * Makes a delivery of an enabled endpoint due now with a fresh set of
 * retries (retry_base = attempts: the schedule starts over, the numbering
 * goes on); the event and its id are unchanged. A delivery of an ordered
 * key goes back in line (waiting) instead: the caller admits the key's head.
 */
export async function replayDelivery(conn: Queryable, t: Tables, id: number): Promise<boolean> {
  const r = await exec(
    conn,
    `UPDATE ${t.deliveries} d JOIN ${t.endpoints} ep ON ep.id = d.endpoint_id
        SET d.status = ${REPLAYED_STATUS}, d.next_attempt_at = ${REPLAYED_DUE}, d.retry_base = d.attempts, d.completed_at = NULL
      WHERE d.id = ? AND d.claim_token IS NULL AND ep.enabled = 1`,
    [id],
  );
  return r.affectedRows > 0;
}

const IN_LINE = `(d.ordering_key IS NOT NULL AND ep.ordered = 1)`;
const REPLAYED_STATUS = `IF(${IN_LINE}, 'waiting', 'pending')`;
const REPLAYED_DUE = `IF(${IN_LINE}, NULL, NOW(3))`;

/** Replays every failed delivery of an endpoint created since `since`, in batches. */
export async function replayFailedSince(conn: Queryable, t: Tables, endpointId: number, since: Date): Promise<number> {
  let total = 0;
  for (;;) {
    const ids = (
      await rows(
        conn,
        `SELECT id FROM ${t.deliveries} WHERE endpoint_id = ? AND status = 'failed' AND created_at >= ? LIMIT ${BATCH}`,
        [endpointId, since],
      )
    ).map((x) => Number(x.id));
    if (ids.length === 0) return total;
    const r = await exec(
      conn,
      `UPDATE ${t.deliveries} d JOIN ${t.endpoints} ep ON ep.id = d.endpoint_id
          SET d.status = ${REPLAYED_STATUS}, d.next_attempt_at = ${REPLAYED_DUE}, d.retry_base = d.attempts, d.completed_at = NULL
        WHERE d.id IN (?) AND d.status = 'failed'`,
      [ids],
    );
    total += r.affectedRows;
    if (ids.length < BATCH) return total;
  }
}

/**
 * Ends a delivery that is not being sent right now as failed (replayable
 * later), keeping its last error: how an operator releases a key held by a
 * head that keeps failing. The caller admits the key's next delivery.
 */
export async function skipDelivery(conn: Queryable, t: Tables, id: number): Promise<boolean> {
  const r = await exec(
    conn,
    `UPDATE ${t.deliveries}
        SET status = 'failed', next_attempt_at = NULL, completed_at = NOW(3),
            last_error = LEFT(CONCAT('skipped by an operator', IFNULL(CONCAT('; last error: ', last_error), '')), 1000)
      WHERE id = ? AND status IN ('pending', 'paused') AND claim_token IS NULL`,
    [id],
  );
  return r.affectedRows > 0;
}

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
  /** Payload conditions, ANDed: [data.path, value] (event_values, idx_lookup). */
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
    sql: `SELECT COUNT(*) AS n FROM (SELECT 1 FROM ${t.eventValues} WHERE path = ? AND value = ? LIMIT ?) x`,
    params: [path, value, COMMON_VALUE + 1],
  };
}

/**
 * Which way to run a payload search: a value few events carry ("student_42")
 * is fastest read from idx_lookup first; one a tenth of all events carry
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
      // Joined after d in STRAIGHT_JOIN order: one idx_lookup probe per delivery walked (an event has one value per path).
      joins.push(
        `STRAIGHT_JOIN ${t.eventValues} v${i} ON v${i}.path = ? AND v${i}.value = ? AND v${i}.event_pk = d.event_pk`,
      );
      joinParams.push(path, value);
    } else {
      where.push(`d.event_pk IN (SELECT v.event_pk FROM ${t.eventValues} v WHERE v.path = ? AND v.value = ?)`);
      params.push(path, value);
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

export interface UnsentEvent {
  pk: number;
  eventType: string;
  body: string;
  outboxId: number | null;
  orderingKey: string | null;
}

/** Events recorded in [since, until) after `afterPk` that this endpoint has no delivery of, oldest first. */
export async function eventsWithoutDelivery(
  conn: Queryable,
  t: Tables,
  endpointId: number,
  window: { since: Date; until: Date; afterPk: number; limit: number },
): Promise<UnsentEvent[]> {
  const r = await rows(
    conn,
    `SELECT ev.id, ev.event_type, ev.body, ev.outbox_id, ev.ordering_key FROM ${t.events} ev
      WHERE ev.created_at >= ? AND ev.created_at < ? AND ev.id > ?
        AND NOT EXISTS (SELECT 1 FROM ${t.deliveries} d WHERE d.event_pk = ev.id AND d.endpoint_id = ?)
      ORDER BY ev.id LIMIT ?`,
    [window.since, window.until, window.afterPk, endpointId, window.limit],
  );
  return r.map((x) => ({
    pk: Number(x.id),
    eventType: String(x.event_type),
    body: String(x.body),
    outboxId: x.outbox_id === null ? null : Number(x.outbox_id),
    orderingKey: x.ordering_key === null ? null : String(x.ordering_key),
  }));
}

/** Of these deliveries, the ones that ended failed: what webhook.delivery_failed reports about each. */
export async function failedDeliveries(conn: Queryable, t: Tables, ids: number[]) {
  if (ids.length === 0) return [];
  const r = await rows(
    conn,
    `SELECT d.id, d.endpoint_id, d.attempts, d.last_status_code, d.last_error, ev.event_id, ev.event_type, ep.url
       FROM ${t.deliveries} d JOIN ${t.events} ev ON ev.id = d.event_pk JOIN ${t.endpoints} ep ON ep.id = d.endpoint_id
      WHERE d.id IN (?) AND d.status = 'failed'`,
    [ids],
  );
  return r.map((x) => ({
    endpoint_id: Number(x.endpoint_id),
    url: String(x.url),
    delivery_id: Number(x.id),
    event_id: String(x.event_id),
    event_type: String(x.event_type),
    attempts: Number(x.attempts),
    last_status_code: x.last_status_code === null ? null : Number(x.last_status_code),
    last_error: x.last_error === null ? null : String(x.last_error),
  }));
}
