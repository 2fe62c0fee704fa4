/**
 * {prefix}webhook_attempts: every request made, successful or not.
 *
 * Request headers are stored compactly (migration 15): what repeats on every
 * request to an endpoint goes once into {prefix}webhook_header_sets; an
 * attempt keeps its own timestamp and signatures as a short JSON array; the
 * event id and type headers are read back from the event. Headers that do not
 * have our usual shape (none sent, or an id that is not the event's) are
 * stored whole, as before.
 */
import { createHash } from 'node:crypto';
import type { Queryable } from './sql.js';
import type { Tables } from './tables.js';
import type { Attempt, ErrorClass } from '../types.js';
import { parseJsonColumn, rows, toDate } from './sql.js';

/** An attempt to record, with the event it carried (its id and type headers are not stored again). */
export type NewAttempt = Omit<Attempt, 'id'> & { eventId: string; eventType: string };

/** An attempt's own headers, in this order in its stored array. */
const OWN_HEADERS = ['x-webhook-timestamp', 'x-webhook-signature', 'webhook-signature', 'x-webhook-signature-next'];
/** Headers that are the event's id or type, or repeat another: rebuilt on reading. */
const DERIVED_HEADERS = ['x-webhook-id', 'webhook-id', 'x-webhook-event', 'webhook-timestamp'];

interface CompactHeaders {
  /** JSON of the headers shared by the endpoint's requests, keys sorted. */
  shared: string;
  hash: Buffer;
  own: string;
}

/** The compact form of an attempt's headers, or null when they are not in our usual shape. */
export function compactHeaders(h: Record<string, string>, eventId: string, eventType: string): CompactHeaders | null {
  const ts = h['x-webhook-timestamp'];
  if (
    ts === undefined ||
    h['webhook-timestamp'] !== ts ||
    h['x-webhook-id'] !== eventId ||
    h['webhook-id'] !== eventId ||
    h['x-webhook-event'] !== eventType
  )
    return null;
  const own = OWN_HEADERS.map((k) => h[k] ?? null);
  while (own.length && own[own.length - 1] === null) own.pop();
  const rest = Object.keys(h)
    .filter((k) => !OWN_HEADERS.includes(k) && !DERIVED_HEADERS.includes(k))
    .sort();
  const shared = JSON.stringify(Object.fromEntries(rest.map((k) => [k, h[k]])));
  return { shared, hash: createHash('sha256').update(shared).digest(), own: JSON.stringify(own) };
}

/** An attempt's headers as they were sent, from their compact form. */
export function expandHeaders(
  shared: Record<string, string>,
  own: (string | null)[],
  eventId: string,
  eventType: string,
): Record<string, string> {
  const h: Record<string, string> = { ...shared, 'x-webhook-id': eventId, 'x-webhook-event': eventType };
  OWN_HEADERS.forEach((k, i) => {
    const v = own[i];
    if (typeof v === 'string') h[k] = v;
  });
  h['webhook-id'] = eventId;
  if (h['x-webhook-timestamp'] !== undefined) h['webhook-timestamp'] = h['x-webhook-timestamp'];
  return h;
}

/**
 * Ids of these header sets, inserting the new ones (content-addressed: the
 * same set is one row, on every replica). A set another replica committed
 * meanwhile is ignored by the INSERT and found by the second read, because
 * the pool's sessions read committed rows (db/pool: READ COMMITTED).
 */
async function headerSetIds(conn: Queryable, t: Tables, sets: CompactHeaders[]): Promise<Map<string, number>> {
  const distinct = new Map(sets.map((s) => [s.hash.toString('hex'), s]));
  const ids = new Map<string, number>();
  if (distinct.size === 0) return ids;
  const read = async () => {
    const r = await rows(conn, `SELECT id, hash FROM ${t.headerSets} WHERE hash IN (?)`, [
      [...distinct.values()].map((s) => s.hash),
    ]);
    for (const x of r) ids.set((x.hash as Buffer).toString('hex'), Number(x.id));
  };
  await read();
  const missing = [...distinct].filter(([hex]) => !ids.has(hex)).map(([, s]) => [s.hash, s.shared]);
  if (missing.length) {
    await conn.query(`INSERT IGNORE INTO ${t.headerSets} (hash, headers) VALUES ?`, [missing]);
    await read();
  }
  return ids;
}

/**
 * Idempotent: a batch whose commit was cut off by a lost connection (outcome
 * unknown) is written again, and uq_attempt (delivery, number, worker) makes
 * the second write of the same attempt a no-op.
 */
export async function insertAttempts(conn: Queryable, t: Tables, as: NewAttempt[]): Promise<void> {
  if (as.length === 0) return;
  const compact = as.map((a) => compactHeaders(a.requestHeaders, a.eventId, a.eventType));
  const setIds = await headerSetIds(
    conn,
    t,
    compact.filter((c): c is CompactHeaders => c !== null),
  );
  await conn.query(
    `INSERT INTO ${t.attempts} (delivery_id, attempt_no, started_at, duration_ms, outcome, status_code, error_class,
       error_message, request_url, started_by, request_headers, request_header_set, response_headers, response_body, worker)
       VALUES ? ON DUPLICATE KEY UPDATE id = id`,
    [
      as.map((a, i) => {
        const c = compact[i];
        return [
          a.deliveryId,
          a.attemptNo,
          a.startedAt,
          Math.max(0, Math.round(a.durationMs)),
          a.outcome,
          a.statusCode,
          a.errorClass,
          a.errorMessage?.slice(0, 1000) ?? null,
          a.requestUrl.slice(0, 2048),
          a.startedBy,
          c ? c.own : JSON.stringify(a.requestHeaders),
          c ? setIds.get(c.hash.toString('hex'))! : null,
          a.responseHeaders ? JSON.stringify(a.responseHeaders) : null,
          a.responseBody,
          a.worker.slice(0, 100),
        ];
      }),
    ],
  );
}

export async function listAttempts(conn: Queryable, t: Tables, deliveryId: number): Promise<Attempt[]> {
  const r = await rows(
    conn,
    `SELECT a.*, ev.event_id AS ev_id, ev.event_type AS ev_type, hs.headers AS shared_headers
       FROM ${t.attempts} a
       JOIN ${t.deliveries} d ON d.id = a.delivery_id
       JOIN ${t.events} ev ON ev.id = d.event_pk
       LEFT JOIN ${t.headerSets} hs ON hs.id = a.request_header_set
      WHERE a.delivery_id = ? ORDER BY a.attempt_no, a.id`,
    [deliveryId],
  );
  return r.map((x) => ({
    id: Number(x.id),
    deliveryId: Number(x.delivery_id),
    attemptNo: Number(x.attempt_no),
    startedAt: toDate(x.started_at)!,
    durationMs: Number(x.duration_ms),
    outcome: String(x.outcome) as Attempt['outcome'],
    statusCode: x.status_code === null ? null : Number(x.status_code),
    errorClass: x.error_class === null ? null : (String(x.error_class) as ErrorClass),
    errorMessage: x.error_message === null ? null : String(x.error_message),
    requestUrl: String(x.request_url),
    startedBy: x.started_by === null ? null : (String(x.started_by) as Attempt['startedBy']),
    requestHeaders:
      x.request_header_set === null
        ? parseJsonColumn<Record<string, string>>(x.request_headers, {})
        : expandHeaders(
            parseJsonColumn<Record<string, string>>(x.shared_headers, {}),
            parseJsonColumn<(string | null)[]>(x.request_headers, []),
            String(x.ev_id),
            String(x.ev_type),
          ),
    responseHeaders: parseJsonColumn<Record<string, string> | null>(x.response_headers, null),
    responseBody: x.response_body === null ? null : String(x.response_body),
    worker: String(x.worker),
  }));
}
