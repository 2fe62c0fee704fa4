/**
 * The sidecar's own events (DESIGN "Operational events and notifications"):
 * webhook.endpoint_failing, webhook.endpoint_disabled,
 * webhook.endpoint_recovered, webhook.delivery_failed. Each becomes an event
 * like any other (signed, logged, retried) for the endpoints subscribed to
 * it by name or by webhook.* — never by plain `*` (they did not ask) and
 * never the endpoint the event is about (a failing endpoint would feed its
 * own failures back to itself). Written in the caller's transaction, so an
 * event exists exactly when the change it reports does.
 */
import { markUnpolledFailing } from '../db/polling.js';
import { withTransaction } from '../db/transaction.js';
import { type Queryable } from '../db/sql.js';
import type { Pool } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import { insertEvents } from '../db/events.js';
import { insertDeliveries, type NewDelivery } from '../db/deliveries.js';
import { claimFailingReports, listEndpointRoutes, unreportedFailing, type EndpointNotice } from '../db/endpoints.js';
import { buildEnvelope, newEventId } from './fanout.js';
import type { TransformationTurn } from '../db/transformBackoff.js';
import { subscribed } from './subscriptions.js';

export const OPERATIONAL_TYPES = [
  'webhook.endpoint_failing',
  'webhook.endpoint_disabled',
  'webhook.endpoint_recovered',
  'webhook.delivery_failed',
] as const;
export type OperationalType = (typeof OPERATIONAL_TYPES)[number];

/** An endpoint that fails this long without a success is reported failing (at its next failure). */
export const FAILING_AFTER_MS = 3600_000;

export interface OperationalEvent {
  type: OperationalType;
  /** The endpoint it is about: never sent to it. */
  endpointId: number;
  data: Record<string, unknown>;
}

export type OperationalNotice = OperationalEvent & { eventId: string };

/** An endpoint's event, with what an operator needs to act on it. */
export function endpointEvent(
  type: Exclude<OperationalType, 'webhook.delivery_failed'>,
  e: EndpointNotice,
  now = new Date(),
): OperationalEvent {
  const base = { endpoint_id: e.id, url: e.url, description: e.description };
  if (type === 'webhook.endpoint_disabled')
    return { type, endpointId: e.id, data: { ...base, reason: e.disabledReason, disabled_at: now.toISOString() } };
  if (type === 'webhook.endpoint_recovered')
    return {
      type,
      endpointId: e.id,
      data: { ...base, failing_since: e.failingSince?.toISOString() ?? null, recovered_at: now.toISOString() },
    };
  return { type, endpointId: e.id, data: { ...base, failing_since: e.failingSince?.toISOString() ?? null } };
}

/**
 * An endpoint whose transformation started backing off (reported as
 * failing, with `reason: "transformation"`, how many runs failed in a row
 * and when its deliveries are tried again), or whose code works again.
 */
export function transformationEvent(
  type: 'webhook.endpoint_failing' | 'webhook.endpoint_recovered',
  e: TransformationTurn,
  now = new Date(),
): OperationalEvent {
  const base = { endpoint_id: e.id, url: e.url, description: e.description, reason: 'transformation' };
  if (type === 'webhook.endpoint_recovered')
    return { type, endpointId: e.id, data: { ...base, recovered_at: now.toISOString() } };
  return {
    type,
    endpointId: e.id,
    data: { ...base, failures_in_a_row: e.failures, retry_at: e.retryAt?.toISOString() ?? null },
  };
}

/** Events and their deliveries, in the caller's transaction. Returns what was written, with event ids. */
export async function emitOperational(
  conn: Queryable,
  t: Tables,
  evs: OperationalEvent[],
  now = new Date(),
): Promise<OperationalNotice[]> {
  if (evs.length === 0) return [];
  const endpoints = await listEndpointRoutes(conn, t);
  const withIds = evs.map((e) => ({ ...e, eventId: newEventId() }));
  const pks = await insertEvents(
    conn,
    t,
    withIds.map((e) => ({
      eventId: e.eventId,
      eventType: e.type,
      outboxId: null,
      body: buildEnvelope(e.eventId, e.type, now, JSON.stringify(e.data), t.site),
      occurredAt: now,
    })),
  );
  const deliveries: NewDelivery[] = [];
  for (const e of withIds) {
    for (const ep of endpoints) {
      if (ep.id === e.endpointId || !subscribed(ep.events, e.type)) continue;
      deliveries.push({
        endpointId: ep.id,
        eventPk: pks.get(e.eventId.toLowerCase())!,
        eventType: e.type,
        status: ep.enabled ? 'pending' : 'paused',
      });
    }
  }
  await insertDeliveries(conn, t, deliveries);
  return withIds;
}

/**
 * The minute sweep: endpoints failing for FAILING_AFTER_MS that no failure
 * has reported yet (the next attempt may be hours away) are reported now.
 * One indexed read when there is nothing to report; the claim decides which
 * process reports, as the recorder's does.
 */
export async function reportLongFailing(pool: Pool, t: Tables): Promise<OperationalNotice[]> {
  // A polling endpoint nobody polls fails as surely as one whose pushes fail.
  await markUnpolledFailing(pool, t, FAILING_AFTER_MS / 1000);
  const ids = await unreportedFailing(pool, t, FAILING_AFTER_MS);
  if (ids.length === 0) return [];
  return withTransaction(pool, async (conn) => {
    const claimed = await claimFailingReports(conn, t, ids, FAILING_AFTER_MS);
    return emitOperational(
      conn,
      t,
      claimed.map((e) => endpointEvent('webhook.endpoint_failing', e)),
    );
  });
}
