/**
 * {prefix}webhook_events: accepted events with their envelope bytes frozen.
 */
import type { Queryable } from './pool.js';
import type { Tables } from './tables.js';
import { rows } from './sql.js';

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
  await conn.query(`INSERT INTO ${t.events} (event_id, event_type, outbox_id, body, occurred_at, ordering_key) VALUES ?`, [
    events.map((e) => [e.eventId, e.eventType, e.outboxId, e.body, e.occurredAt, e.orderingKey ?? null]),
  ]);
  // Multi-row insert ids are only consecutive under some autoinc lock modes; read them back.
  const r = await rows(conn, `SELECT id, event_id FROM ${t.events} WHERE event_id IN (?)`, [events.map((e) => e.eventId)]);
  return new Map(r.map((x) => [String(x.event_id).toLowerCase(), Number(x.id)]));
}

/** Which of these types some accepted event has had (idx_type). */
export async function seenEventTypes(conn: Queryable, t: Tables, types: string[]): Promise<Set<string>> {
  if (types.length === 0) return new Set();
  const r = await rows(conn, `SELECT DISTINCT event_type FROM ${t.events} WHERE event_type IN (?)`, [types]);
  return new Set(r.map((x) => String(x.event_type)));
}

/** Whether any accepted event's type starts with this prefix (for a wildcard such as order.*). */
export async function seenEventTypePrefix(conn: Queryable, t: Tables, prefix: string): Promise<boolean> {
  const r = await rows(conn, `SELECT 1 FROM ${t.events} WHERE event_type LIKE ? LIMIT 1`, [prefix.replace(/[\\%_]/g, '\\$&') + '%']);
  return r.length > 0;
}
