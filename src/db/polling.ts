/**
 * Polling endpoints' deliveries: a poll acknowledges what its cursor has
 * moved past, and reads the next page in delivery order. The cursor is the
 * delivery id (idx_endpoint: endpoint_id, id), so a receiver that crashes
 * and polls again from its last cursor reads the same events again.
 */
import type { Queryable } from './sql.js';
import type { Tables } from './tables.js';
import { exec, rows, toDate } from './sql.js';

/** Marks the endpoint's deliveries up to the cursor succeeded; returns how many. */
export async function acknowledgeUpTo(conn: Queryable, t: Tables, endpointId: number, cursor: number): Promise<number> {
  if (cursor <= 0) return 0;
  const r = await exec(
    conn,
    `UPDATE ${t.deliveries} SET status = 'succeeded', completed_at = NOW(3), last_attempt_at = NOW(3), last_error = NULL
      WHERE endpoint_id = ? AND id <= ? AND status IN ('pending', 'paused')`,
    [endpointId, cursor],
  );
  return r.affectedRows;
}

export async function notePolled(conn: Queryable, t: Tables, endpointId: number): Promise<void> {
  await exec(conn, `UPDATE ${t.endpoints} SET last_polled_at = NOW(3) WHERE id = ?`, [endpointId]);
}

export interface PolledDelivery {
  id: number;
  eventId: string;
  eventType: string;
  body: string;
}

/** The next page after the cursor, in delivery order (cancelled ones left out). */
export async function deliveriesAfter(
  conn: Queryable,
  t: Tables,
  endpointId: number,
  cursor: number,
  limit: number,
): Promise<PolledDelivery[]> {
  return (
    await rows(
      conn,
      `SELECT d.id, ev.event_id, ev.event_type, ev.body FROM ${t.deliveries} d JOIN ${t.events} ev ON ev.id = d.event_pk
        WHERE d.endpoint_id = ? AND d.id > ? AND d.status <> 'cancelled' ORDER BY d.id LIMIT ?`,
      [endpointId, cursor, limit],
    )
  ).map((x) => ({
    id: Number(x.id),
    eventId: String(x.event_id),
    eventType: String(x.event_type),
    body: String(x.body),
  }));
}

/** How far behind a polling endpoint is: its oldest delivery not acknowledged, and how many wait. */
export async function pollBacklog(
  conn: Queryable,
  t: Tables,
  endpointId: number,
): Promise<{ waiting: number; oldest: Date | null }> {
  const [r] = await rows(
    conn,
    `SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM ${t.deliveries} WHERE endpoint_id = ? AND status = 'pending'`,
    [endpointId],
  );
  return { waiting: Number(r!.n), oldest: toDate(r!.oldest) };
}

/**
 * Polling endpoints nobody has polled for `afterSeconds` while a delivery has
 * waited that long are failing since that delivery began waiting, so the
 * minute sweep reports them as it reports an endpoint whose pushes fail.
 */
export async function markUnpolledFailing(conn: Queryable, t: Tables, afterSeconds: number): Promise<void> {
  const due = await rows(
    conn,
    `SELECT ep.id, MIN(d.created_at) AS since FROM ${t.endpoints} ep
       JOIN ${t.deliveries} d ON d.endpoint_id = ep.id AND d.status = 'pending'
      WHERE ep.type = 'polling' AND ep.enabled = 1 AND ep.failing_since IS NULL
        AND (ep.last_polled_at IS NULL OR ep.last_polled_at < NOW(3) - INTERVAL ? SECOND)
      GROUP BY ep.id
     HAVING MIN(d.created_at) < NOW(3) - INTERVAL ? SECOND`,
    [afterSeconds, afterSeconds],
  );
  for (const x of due)
    await exec(conn, `UPDATE ${t.endpoints} SET failing_since = ? WHERE id = ? AND failing_since IS NULL`, [
      x.since,
      x.id,
    ]);
}
