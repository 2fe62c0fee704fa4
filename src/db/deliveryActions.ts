/**
 * What operators do to deliveries in {prefix}webhook_deliveries: pause and
 * resume an endpoint's, delete them with it, replay one or every failed one
 * since a time, skip the head of an ordered key. Large changes go in batches
 * so no statement holds many row locks.
 */
import type { Queryable } from './sql.js';
import type { Tables } from './tables.js';
import { exec, rows } from './sql.js';

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
