/**
 * {prefix}webhook_events: accepted events with their envelope bytes frozen.
 */
import { createHash } from 'node:crypto';
import type { Queryable } from './sql.js';
import type { Tables } from './tables.js';
import { likePrefix, rows } from './sql.js';

export interface NewEvent {
  eventId: string;
  eventType: string;
  outboxId: number | null;
  body: string;
  occurredAt: Date;
  orderingKey?: string | null;
}

export async function existingEventIds(conn: Queryable, t: Tables, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const r = await rows(conn, `SELECT event_id FROM ${t.events} WHERE event_id IN (?)`, [ids]);
  return new Set(r.map((x) => String(x.event_id)));
}

/** Inserts events and returns lower-cased event_id → primary key (ids are unique in any letter case). */
export async function insertEvents(conn: Queryable, t: Tables, events: NewEvent[]): Promise<Map<string, number>> {
  if (events.length === 0) return new Map();
  await conn.query(
    `INSERT INTO ${t.events} (event_id, event_type, outbox_id, body, occurred_at, ordering_key) VALUES ?`,
    [events.map((e) => [e.eventId, e.eventType, e.outboxId, e.body, e.occurredAt, e.orderingKey ?? null])],
  );
  // Multi-row insert ids are only consecutive under some autoinc lock modes; read them back.
  const r = await rows(conn, `SELECT id, event_id FROM ${t.events} WHERE event_id IN (?)`, [
    events.map((e) => e.eventId),
  ]);
  const pks = new Map(r.map((x) => [String(x.event_id).toLowerCase(), Number(x.id)]));
  const terms = events.flatMap((e) =>
    searchableValues(e.body).map(([path, value]) => [pks.get(e.eventId.toLowerCase())!, searchTerm(path, value)]),
  );
  for (let i = 0; i < terms.length; i += 2000) {
    // IGNORE: two paths of one event can only share a term by a hash collision; one row is enough then.
    await conn.query(`INSERT IGNORE INTO ${t.eventTerms} (event_pk, term) VALUES ?`, [terms.slice(i, i + 2000)]);
  }
  return pks;
}

/** Which of these types some accepted event has had (idx_type). */
export async function seenEventTypes(conn: Queryable, t: Tables, types: string[]): Promise<Set<string>> {
  if (types.length === 0) return new Set();
  const r = await rows(conn, `SELECT DISTINCT event_type FROM ${t.events} WHERE event_type IN (?)`, [types]);
  return new Set(r.map((x) => String(x.event_type)));
}

/** Whether any accepted event's type starts with this prefix (for a wildcard such as order.*). */
export async function seenEventTypePrefix(conn: Queryable, t: Tables, prefix: string): Promise<boolean> {
  const r = await rows(conn, `SELECT 1 FROM ${t.events} WHERE event_type LIKE ? LIMIT 1`, [likePrefix(prefix)]);
  return r.length > 0;
}

/**
 * What payload search stores and looks up for a value at a path: the first
 * 8 bytes of SHA-256 over the path, a NUL and the value, in UTF-8 (the same
 * bytes migration 000014 hashes in SQL).
 */
export function searchTerm(path: string, value: string): Buffer {
  return createHash('sha256').update(path).update('\0').update(value).digest().subarray(0, 8);
}

/** At most this many values of one event are indexed for search. */
const MAX_VALUES_PER_EVENT = 32;

/**
 * The searchable fields of an envelope: the scalars of `data` one and two
 * levels deep (data.student_id, data.student.id), strings and numbers as
 * their text, booleans as true/false; values over 191 characters and lists
 * are left out. Pure.
 */
export function searchableValues(body: string): [string, string][] {
  let data: unknown;
  try {
    data = (JSON.parse(body) as { data?: unknown }).data;
  } catch {
    return [];
  }
  const out: [string, string][] = [];
  const add = (path: string, v: unknown) => {
    if (out.length >= MAX_VALUES_PER_EVENT || path.length > 100) return;
    const text = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : null;
    if (text !== null && text.length <= 191) out.push([path, text]);
  };
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return out;
  for (const [k, v] of Object.entries(data)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) add(`data.${k}.${k2}`, v2);
    } else add(`data.${k}`, v);
  }
  return out;
}

/** Types of accepted events, apart from `known`, for the catalog's "also seen" list (idx_type; at most 200). */
export async function otherEventTypes(conn: Queryable, t: Tables, known: readonly string[]): Promise<string[]> {
  const r = await rows(
    conn,
    `SELECT DISTINCT event_type FROM ${t.events} WHERE event_type NOT IN (?) ORDER BY event_type LIMIT 200`,
    [[...known]],
  );
  return r.map((x) => String(x.event_type));
}

/** The data of the newest stored event of a type (a chat template's preview shows it beside the example), or null. */
export async function latestEventData(
  conn: Queryable,
  t: Tables,
  type: string,
): Promise<Record<string, unknown> | null> {
  const [body] = await latestEventBodies(conn, t, type, 1);
  if (body === undefined) return null;
  try {
    const data = (JSON.parse(body) as { data?: unknown }).data;
    return data && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * The bodies of the newest stored events of a type or matching a wildcard
 * (`quiz.*`, `*`, which leaves out the sidecar's own webhook.*), newest first.
 */
export async function latestEventBodies(conn: Queryable, t: Tables, pattern: string, limit: number): Promise<string[]> {
  const where =
    pattern === '*'
      ? { sql: `event_type NOT LIKE 'webhook.%'`, params: [] }
      : pattern.endsWith('.*')
        ? { sql: 'event_type LIKE ?', params: [likePrefix(pattern.slice(0, -1))] }
        : { sql: 'event_type = ?', params: [pattern] };
  const r = await rows(conn, `SELECT body FROM ${t.events} WHERE ${where.sql} ORDER BY id DESC LIMIT ?`, [
    ...where.params,
    limit,
  ]);
  return r.map((x) => String(x.body));
}
