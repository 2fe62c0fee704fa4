/**
 * Fan-out: outbox rows not yet fanned out become events and one delivery per
 * subscribed endpoint, in the same transaction that stamps the rows. A row
 * that cannot be accepted is stamped with its reason instead; it never stops
 * the batch, and it stays visible in the admin UI.
 */
import { randomBytes } from 'node:crypto';
import type { Pool } from 'mysql2/promise';
import { withTransaction } from '../db/pool.js';
import type { Tables } from '../db/tables.js';
import { lockPending, markFannedOut, type OutboxOutcome, type OutboxRow } from '../db/outbox.js';
import { existingEventIds, insertEvents, type NewEvent } from '../db/events.js';
import { insertDeliveries, type NewDelivery } from '../db/deliveries.js';
import { listEndpoints } from '../db/endpoints.js';
import { subscribed } from './subscriptions.js';
import type { Endpoint } from '../types.js';

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
export function buildEnvelope(eventId: string, eventType: string, occurredAt: Date, dataJson: string): string {
  return `{"id":${JSON.stringify(eventId)},"event":${JSON.stringify(eventType)},"created_at":"${formatTimestamp(occurredAt)}","data":${dataJson.trim()}}`;
}

/** Why a row cannot be accepted, or null when it can. */
export function rejectReason(row: OutboxRow, maxPayloadBytes: number): string | null {
  if (row.payload === null) return `payload is ${row.payloadBytes} bytes, over the max_payload_bytes limit of ${maxPayloadBytes}`;
  if (row.eventType.trim() === '') return 'event_type is empty';
  if (/[\s\x00-\x1f\x7f]/.test(row.eventType)) return 'event_type contains whitespace or control characters';
  try {
    JSON.parse(row.payload);
  } catch (err) {
    return `payload is not valid JSON: ${(err as Error).message}`.slice(0, 500);
  }
  return null;
}

export interface FanoutResult {
  rows: number;
  /** True when the batch stopped at the byte budget rather than the row limit. */
  truncated: boolean;
  accepted: number;
  rejected: number;
  deliveries: number;
}

export async function fanOutBatch(pool: Pool, t: Tables, opts: { limit: number; maxPayloadBytes: number }): Promise<FanoutResult> {
  return withTransaction(pool, async (conn) => {
    const { rows: batch, truncated } = await lockPending(conn, t, opts.limit, opts.maxPayloadBytes);
    if (batch.length === 0) return { rows: 0, truncated: false, accepted: 0, rejected: 0, deliveries: 0 };
    const endpoints = await listEndpoints(conn, t);

    const given = batch.map((r) => r.eventId).filter((x): x is string => x !== null);
    const seen = await existingEventIds(conn, t, given);

    const outcomes: OutboxOutcome[] = [];
    const events: NewEvent[] = [];
    const targets = new Map<string, Endpoint[]>();
    for (const row of batch) {
      let reason = rejectReason(row, opts.maxPayloadBytes);
      if (!reason && row.eventId !== null && seen.has(row.eventId)) {
        reason = `event_id ${row.eventId} was already accepted from an earlier row; receivers dedupe on it, so it is not sent again`;
      }
      if (reason) {
        outcomes.push({ id: row.id, eventId: null, rejectedReason: reason, deliveryCount: 0 });
        continue;
      }
      const eventId = row.eventId ?? newEventId();
      const occurredAt = row.occurredAt ?? row.createdAt;
      events.push({ eventId, eventType: row.eventType, outboxId: row.id, body: buildEnvelope(eventId, row.eventType, occurredAt, row.payload!), occurredAt });
      const subs = endpoints.filter((e) => subscribed(e.events, row.eventType));
      targets.set(eventId, subs);
      outcomes.push({ id: row.id, eventId, rejectedReason: null, deliveryCount: subs.length });
    }

    const pks = await insertEvents(conn, t, events);
    const deliveries: NewDelivery[] = [];
    for (const ev of events) {
      for (const ep of targets.get(ev.eventId) ?? []) {
        // Disabled endpoints still get the delivery, paused, so it can be sent after re-enabling.
        deliveries.push({ endpointId: ep.id, eventPk: pks.get(ev.eventId)!, eventType: ev.eventType, status: ep.enabled ? 'pending' : 'paused' });
      }
    }
    await insertDeliveries(conn, t, deliveries);
    await markFannedOut(conn, t, outcomes);
    return { rows: batch.length, truncated, accepted: events.length, rejected: batch.length - events.length, deliveries: deliveries.length };
  });
}
