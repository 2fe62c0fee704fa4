/**
 * Pruning statements. Each deletes at most BATCH rows by primary key, so no
 * statement holds locks for long or bloats the undo log.
 */
import type { Queryable } from './sql.js';
import type { Tables } from './tables.js';
import { exec, rows } from './sql.js';

export const BATCH = 2000;

async function deleteIds(conn: Queryable, table: string, ids: number[]): Promise<number> {
  if (ids.length === 0) return 0;
  return (await exec(conn, `DELETE FROM ${table} WHERE id IN (?)`, [ids])).affectedRows;
}

const ids = (r: { id: unknown }[]) => r.map((x) => Number(x.id));

export async function pruneAttempts(conn: Queryable, t: Tables, cutoff: Date): Promise<number> {
  return deleteIds(
    conn,
    t.attempts,
    ids(await rows(conn, `SELECT id FROM ${t.attempts} WHERE started_at < ? LIMIT ${BATCH}`, [cutoff])),
  );
}

export async function pruneOutbox(conn: Queryable, t: Tables, cutoff: Date): Promise<number> {
  return deleteIds(
    conn,
    t.outbox,
    ids(await rows(conn, `SELECT id FROM ${t.outbox} WHERE fanned_out_at < ? LIMIT ${BATCH}`, [cutoff])),
  );
}

/** Finished deliveries (succeeded, failed, or cancelled by a transformation or an erasure) and their attempts. */
export async function pruneDeliveries(conn: Queryable, t: Tables, cutoff: Date): Promise<number> {
  const batch = ids(
    await rows(
      conn,
      `SELECT id FROM ${t.deliveries} WHERE status IN ('succeeded', 'failed', 'cancelled') AND created_at < ? AND completed_at < ? LIMIT ${BATCH}`,
      [cutoff, cutoff],
    ),
  );
  if (batch.length === 0) return 0;
  await exec(conn, `DELETE FROM ${t.attempts} WHERE delivery_id IN (?)`, [batch]);
  return deleteIds(conn, t.deliveries, batch);
}

/** Events no delivery points at any more. */
export async function pruneEvents(conn: Queryable, t: Tables, cutoff: Date): Promise<number> {
  const batch = ids(
    await rows(
      conn,
      `SELECT e.id FROM ${t.events} e WHERE e.created_at < ?
          AND NOT EXISTS (SELECT 1 FROM ${t.deliveries} d WHERE d.event_pk = e.id) LIMIT ${BATCH}`,
      [cutoff],
    ),
  );
  if (batch.length) await exec(conn, `DELETE FROM ${t.eventTerms} WHERE event_pk IN (?)`, [batch]);
  return deleteIds(conn, t.events, batch);
}
