/**
 * The delivery hot path in {prefix}webhook_deliveries: claiming due rows,
 * booking rate-limited start times, completing and releasing claims. Claims
 * and completions are multi-row statements: MariaDB does ~900 single-row
 * transactions/s here but 12,000+ rows/s batched.
 *
 * Claiming: due rows are locked with FOR UPDATE SKIP LOCKED (so two processes
 * never take the same row), stamped with a claim token and pushed to their
 * lease expiry in the same short transaction, and committed before any HTTP.
 * A claimed row stays `pending`: if its process dies, the row is simply due
 * again once the lease runs out. Completions match on the claim token, so a
 * process that lost its lease cannot overwrite the row's newer state.
 */
import type { Pool } from 'mysql2/promise';
import type { Queryable } from './sql.js';
import { withTransaction } from './transaction.js';
import type { Tables } from './tables.js';
import {
  CHAT_RATE_PER_SECOND,
  isChatType,
  type ChatType,
  type DeliveryStatus,
  type EndpointAuth,
  type EndpointTls,
  type EndpointType,
} from '../types.js';
import type { SecretBox } from '../secrets.js';
import { openedSecrets } from './endpoints.js';
import { exec, parseJsonColumn, parseUtcDateTime, rows, valuesTable, type Row } from './sql.js';

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
  /** A chat type sends a message rendered from its templates instead of the envelope. */
  endpointType: EndpointType;
  templates: Record<string, string> | null;
  /** Run over the request in a sandbox before it is signed (null: none). */
  transformation: string | null;
  /** While its transformation keeps failing, how long the endpoint's deliveries still wait (ms; 0: they do not). */
  transformationWaitMs: number;
  /** Its transformation's failed runs in a row when claimed: a run that works resets them (only then is it written). */
  transformationFailures: number;
  /** Mutual TLS: client certificate, key and CA (null: none). */
  tls: EndpointTls | null;
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

/** A due row taken by a claim, and its endpoint. */
interface Taken {
  id: number;
  ep: number;
}

/** Locks up to `limit` due rows, oldest first, skipping rows another claimer holds. */
async function lockDue(conn: Queryable, t: Tables, req: ClaimRequest): Promise<Taken[]> {
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
  return candidates.map((c) => ({ id: Number(c.id), ep: Number(c.endpoint_id) }));
}

/** The rows each endpoint has a free slot for, in order, and how many per endpoint. */
function withinSlots(candidates: Taken[], freeSlots: (endpointId: number) => number) {
  const taken: Taken[] = [];
  const perEndpoint = new Map<number, number>();
  for (const c of candidates) {
    const n = perEndpoint.get(c.ep) ?? 0;
    if (n >= freeSlots(c.ep)) continue;
    perEndpoint.set(c.ep, n + 1);
    taken.push(c);
  }
  return { taken, perEndpoint };
}

/**
 * Keeps the rows of rate-limited endpoints that got a start time, and says
 * when each kept row may start and which endpoints had rows left behind.
 * The limit in force is the one in the database now, not a cached copy: an
 * endpoint created or lowered a moment ago is paced from its first claim, on
 * every replica.
 */
async function applyRateLimits(conn: Queryable, t: Tables, taken: Taken[], perEndpoint: Map<number, number>) {
  const notBefore = new Map<number, number>();
  const rateHeld = new Map<number, number>();
  const wanted = new Map<number, { rate: number; count: number }>();
  if (perEndpoint.size > 0) {
    const limited = await rows(
      conn,
      `SELECT id, type, rate_limit_per_second FROM ${t.endpoints}
        WHERE id IN (?) AND (rate_limit_per_second IS NOT NULL OR type <> 'webhook')`,
      [[...perEndpoint.keys()]],
    );
    for (const x of limited) {
      const ep = Number(x.id);
      // A chat endpoint without its own limit keeps to its provider's.
      const rate =
        x.rate_limit_per_second !== null
          ? Number(x.rate_limit_per_second)
          : isChatType(String(x.type))
            ? CHAT_RATE_PER_SECOND[x.type as ChatType]
            : null;
      if (rate !== null) wanted.set(ep, { rate, count: perEndpoint.get(ep)! });
    }
  }
  if (wanted.size === 0) return { kept: taken, notBefore, rateHeld };
  const { now, starts } = await bookStarts(conn, t, wanted);
  const offset = Date.now() - now; // database clock → this process's clock
  const left = new Map([...starts].map(([ep, s]) => [ep, [...s.granted]]));
  const kept = taken.filter((x) => {
    if (!wanted.has(x.ep)) return true;
    const at = left.get(x.ep)?.shift();
    if (at !== undefined) notBefore.set(x.id, at + offset);
    return at !== undefined;
  });
  for (const [ep, s] of starts) {
    // Rows left behind: leave this endpoint out of claims until its next start is within the horizon.
    if (s.granted.length < wanted.get(ep)!.count) rateHeld.set(ep, s.next - RATE_HORIZON_MS + offset);
  }
  return { kept, notBefore, rateHeld };
}

export async function claimDue(pool: Pool, t: Tables, box: SecretBox, req: ClaimRequest): Promise<ClaimResult> {
  let exhausted = true;
  let notBefore = new Map<number, number>();
  let rateHeld = new Map<number, number>();
  const ids = await withTransaction(pool, async (conn) => {
    const candidates = await lockDue(conn, t, req);
    exhausted = candidates.length < req.limit;
    const { taken, perEndpoint } = withinSlots(candidates, req.freeSlots);
    const limited = await applyRateLimits(conn, t, taken, perEndpoint);
    ({ notBefore, rateHeld } = limited);
    if (limited.kept.length === 0) return [];
    const keptIds = limited.kept.map((x) => x.id);
    await exec(
      conn,
      `UPDATE ${t.deliveries}
          SET claim_token = ?, claimed_by = ?, next_attempt_at = DATE_ADD(NOW(3), INTERVAL ? MICROSECOND)
        WHERE id IN (?)`,
      [req.token, req.worker, req.leaseMs * 1000, keptIds],
    );
    return keptIds;
  });
  if (ids.length === 0) return { claimed: [], exhausted, rateHeld };
  return { claimed: await loadClaimed(pool, t, box, ids, req.token, notBefore), exhausted, rateHeld };
}

/** What sending the claimed rows needs: the event's body and the endpoint's options, read after the claim commits. */
async function loadClaimed(
  pool: Pool,
  t: Tables,
  box: SecretBox,
  ids: number[],
  token: string,
  notBefore: Map<number, number>,
): Promise<ClaimedDelivery[]> {
  const r = await rows(
    pool,
    `SELECT d.id, d.attempts, d.retry_base, d.endpoint_id, d.ordering_key, ev.event_id, ev.event_type, ev.body,
            ep.url, ep.secret, ep.previous_secret, ep.previous_secret_expires_at > NOW(3) AS previous_valid, ep.enabled,
            ep.headers, ep.auth, ep.timeout_seconds, ep.retry_schedule_seconds, ep.signing, ep.signing_key,
            ep.type, ep.templates, ep.transformation, ep.tls, ep.transformation_failures,
            IF(ep.transformation_retry_at > NOW(3), TIMESTAMPDIFF(MICROSECOND, NOW(3), ep.transformation_retry_at) DIV 1000, 0)
              AS transformation_wait_ms
       FROM ${t.deliveries} d
       JOIN ${t.events} ev ON ev.id = d.event_pk
       JOIN ${t.endpoints} ep ON ep.id = d.endpoint_id
      WHERE d.id IN (?) AND d.claim_token = ?`,
    [ids, token],
  );
  return r.map((x) => claimedOf(x, box, token, notBefore));
}

function claimedOf(x: Row, box: SecretBox, token: string, notBefore: Map<number, number>): ClaimedDelivery {
  const opened = openedSecrets(x, box);
  return {
    id: Number(x.id),
    attempts: Number(x.attempts),
    retryBase: Number(x.retry_base),
    endpointId: Number(x.endpoint_id),
    eventId: String(x.event_id),
    eventType: String(x.event_type),
    body: String(x.body),
    url: String(x.url),
    secrets:
      opened.previousSecret && Number(x.previous_valid) === 1
        ? [opened.secret, opened.previousSecret]
        : [opened.secret],
    endpointEnabled: Number(x.enabled) === 1,
    claimToken: token,
    orderingKey: x.ordering_key === null ? null : String(x.ordering_key),
    notBefore: notBefore.get(Number(x.id)) ?? 0,
    extraHeaders: parseJsonColumn<Record<string, string> | null>(x.headers, null),
    auth: opened.auth,
    timeoutSeconds: x.timeout_seconds === null ? null : Number(x.timeout_seconds),
    retryScheduleSeconds: parseJsonColumn<number[] | null>(x.retry_schedule_seconds, null),
    ed25519Key: x.signing === 'ed25519' ? opened.signingKey : null,
    endpointType:
      x.type === 'zapier' || x.type === 'polling'
        ? (x.type as 'zapier' | 'polling')
        : isChatType(String(x.type))
          ? (x.type as ChatType)
          : 'webhook',
    templates: parseJsonColumn<Record<string, string> | null>(x.templates, null),
    transformation: x.transformation === null ? null : String(x.transformation),
    transformationWaitMs: Number(x.transformation_wait_ms ?? 0),
    transformationFailures: Number(x.transformation_failures ?? 0),
    tls: opened.tls,
  };
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
            d.last_error = IF(v.inc = 1 OR v.err IS NOT NULL, v.err, d.last_error),
            d.completed_at = IF(v.status IN ('succeeded', 'failed', 'cancelled'), NOW(3), NULL)`,
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
