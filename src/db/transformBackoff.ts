/**
 * An endpoint whose transformation keeps failing backs off like a failing
 * receiver: from the TRANSFORMATION_BACKOFF_AFTER-th failed run in a row (or
 * the first stopped at a limit) its deliveries wait until
 * transformation_retry_at (30 s, doubling to an hour)
 * instead of each spending a pool worker on code that fails the same way.
 * Written by the recorder, in its transaction; read by the claim.
 */
import type { Queryable } from './sql.js';
import type { Tables } from './tables.js';
import { exec, rows, toDate } from './sql.js';

/** Failed runs in a row after which an endpoint's deliveries wait for its transformation. */
export const TRANSFORMATION_BACKOFF_AFTER = 5;
const FIRST_WAIT_SECONDS = 30;
const LONGEST_WAIT_SECONDS = 3600;

/** How long deliveries wait after `failures` failed runs in a row (null: they do not). */
export function waitSeconds(failures: number): number | null {
  if (failures < TRANSFORMATION_BACKOFF_AFTER) return null;
  return Math.min(LONGEST_WAIT_SECONDS, FIRST_WAIT_SECONDS * 2 ** Math.min(7, failures - TRANSFORMATION_BACKOFF_AFTER));
}

/** An endpoint's failed runs in one recorded batch; `stopped`: one was stopped at a limit (CPU, wall time, memory). */
export interface FailedRuns {
  runs: number;
  stopped: boolean;
}

/** An endpoint whose transformation started or stopped backing off in this write. */
export interface TransformationTurn {
  id: number;
  url: string;
  description: string;
  failures: number;
  retryAt: Date | null;
}

/**
 * Counts failed runs (`failed`: endpoint → its failed runs in this batch; a
 * run stopped at a limit counts as TRANSFORMATION_BACKOFF_AFTER, since it
 * cost a worker its whole limit) and resets the count of endpoints whose
 * code ran (`ran`).
 * Returns the endpoints that started backing off here, and those that had
 * been and whose code ran again.
 */
export async function noteTransformationRuns(
  conn: Queryable,
  t: Tables,
  failed: Map<number, FailedRuns>,
  ran: number[],
): Promise<{ backingOff: TransformationTurn[]; recovered: TransformationTurn[] }> {
  const ids = [...new Set([...failed.keys(), ...ran])];
  if (ids.length === 0) return { backingOff: [], recovered: [] };
  // Locked in id order (as every endpoint lock in the recorder is): the count read is the count changed.
  const before = await rows(
    conn,
    `SELECT id, url, description, transformation_failures FROM ${t.endpoints} WHERE id IN (?) ORDER BY id FOR UPDATE`,
    [ids],
  );
  const backingOff: TransformationTurn[] = [];
  const recovered: TransformationTurn[] = [];
  for (const x of before) {
    const id = Number(x.id);
    const old = Number(x.transformation_failures);
    const turn = { id, url: String(x.url), description: String(x.description) };
    const f = failed.get(id);
    if (f === undefined) {
      if (old === 0) continue;
      await exec(
        conn,
        `UPDATE ${t.endpoints} SET transformation_failures = 0, transformation_retry_at = NULL WHERE id = ?`,
        [id],
      );
      if (old >= TRANSFORMATION_BACKOFF_AFTER) recovered.push({ ...turn, failures: 0, retryAt: null });
      continue;
    }
    const failures = f.stopped ? Math.max(old + f.runs, TRANSFORMATION_BACKOFF_AFTER) : old + f.runs;
    const wait = waitSeconds(failures);
    await exec(
      conn,
      `UPDATE ${t.endpoints}
          SET transformation_failures = ?,
              transformation_retry_at = IF(? IS NULL, NULL, NOW(3) + INTERVAL ? SECOND)
        WHERE id = ?`,
      [failures, wait, wait, id],
    );
    if (old < TRANSFORMATION_BACKOFF_AFTER && failures >= TRANSFORMATION_BACKOFF_AFTER) {
      const [r] = await rows(conn, `SELECT transformation_retry_at FROM ${t.endpoints} WHERE id = ?`, [id]);
      backingOff.push({ ...turn, failures, retryAt: toDate(r?.transformation_retry_at) });
    }
  }
  return { backingOff, recovered };
}

/**
 * The endpoint's code was changed: deliveries that waited for its
 * transformation are due now rather than at the end of the wait (those
 * waiting for a receiver's retry keep their time), so the new code runs at
 * once. The count stays: the new code's first run that works closes the
 * spell (and reports the endpoint recovered); one that fails waits longer,
 * as a failing receiver's next retry would. Code removed ends the spell.
 */
export async function retryTransformationNow(conn: Queryable, t: Tables, id: number): Promise<void> {
  await exec(
    conn,
    `UPDATE ${t.deliveries} d JOIN ${t.endpoints} ep ON ep.id = d.endpoint_id
        SET d.next_attempt_at = NOW(3)
      WHERE d.endpoint_id = ? AND d.status = 'pending' AND d.claim_token IS NULL
        AND ep.transformation_retry_at IS NOT NULL AND d.next_attempt_at <= ep.transformation_retry_at
        AND d.next_attempt_at > NOW(3)`,
    [id],
  );
  await exec(
    conn,
    `UPDATE ${t.endpoints}
        SET transformation_retry_at = NULL, transformation_failures = IF(transformation IS NULL, 0, transformation_failures)
      WHERE id = ?`,
    [id],
  );
}

/** Those of `ids` whose deliveries wait for their transformation now. */
export async function endpointsStillWaiting(conn: Queryable, t: Tables, ids: number[]): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const r = await rows(conn, `SELECT id FROM ${t.endpoints} WHERE id IN (?) AND transformation_retry_at > NOW(3)`, [
    ids,
  ]);
  return new Set(r.map((x) => Number(x.id)));
}
