/**
 * Ordered delivery per key, in the database. For an ordered endpoint, the
 * deliveries that share an ordering_key form a line in outbox id order
 * (`seq`). One of them, the head, is `pending` (or `paused` while the
 * endpoint is disabled): it is claimed, sent and retried like any delivery.
 * The others are `waiting`, outside idx_due, so the claim query never reads
 * them. When the head succeeds or fails for good (or an operator skips it)
 * the lowest waiting `seq` is admitted as the new head.
 *
 * Every function here runs in a transaction that holds the endpoint's row
 * lock (lockEndpoints): that serialises fan-out, completions and operator
 * actions on one endpoint over every replica, so a key never gets two heads.
 * A crash changes nothing: a claimed head stays `pending` until its lease
 * runs out and is then sent again; the waiting ones stay waiting.
 */
import type { Queryable } from './sql.js';
import type { Tables } from './tables.js';
import { exec, rows } from './sql.js';

/**
 * How long a newly fanned-out head waits before it may be sent: a row of the
 * same key with a lower id whose transaction commits within this time is
 * fanned out meanwhile and goes first (see yieldToEarlier). Rows admitted
 * later than SETTLE_MS after fan-out go at once.
 */
export const SETTLE_MS = 1000;

export interface KeyLine {
  endpointId: number;
  key: string;
}

/**
 * Admits a head for each of `keys` (or every key of the endpoint) that has
 * waiting deliveries and no head: its lowest seq becomes pending, due once it
 * has settled, or paused when the endpoint is disabled. Returns how many.
 */
export async function admitHeads(
  conn: Queryable,
  t: Tables,
  endpointId: number,
  enabled: boolean,
  keys: readonly string[] | 'all',
): Promise<number> {
  if (keys !== 'all' && keys.length === 0) return 0;
  const only = keys === 'all' ? '' : 'AND w.ordering_key IN (?)';
  const next = await rows(
    conn,
    `SELECT w.ordering_key AS k, MIN(w.seq) AS seq FROM ${t.deliveries} w
      WHERE w.endpoint_id = ? AND w.status = 'waiting' ${only}
        AND NOT EXISTS (SELECT 1 FROM ${t.deliveries} h
                         WHERE h.endpoint_id = w.endpoint_id AND h.ordering_key = w.ordering_key AND h.status IN ('pending', 'paused'))
      GROUP BY w.ordering_key`,
    keys === 'all' ? [endpointId] : [endpointId, [...new Set(keys)]],
  );
  if (next.length === 0) return 0;
  let admitted = 0;
  for (let i = 0; i < next.length; i += 500) {
    const chunk = next.slice(i, i + 500).map((x) => [String(x.k), Number(x.seq)]);
    const r = await exec(
      conn,
      `UPDATE ${t.deliveries}
          SET status = ?, next_attempt_at = ${enabled ? 'GREATEST(NOW(3), DATE_ADD(created_at, INTERVAL ? MICROSECOND))' : 'NULL'}
        WHERE endpoint_id = ? AND status = 'waiting' AND (ordering_key, seq) IN (?)`,
      enabled ? ['pending', SETTLE_MS * 1000, endpointId, chunk] : ['paused', endpointId, chunk],
    );
    admitted += r.affectedRows;
  }
  return admitted;
}

/**
 * A row committed after a later row of its key was fanned out: if that later
 * row heads the key and has not been tried yet (its settle time not over, or
 * no replica got to it), it steps back behind the earlier one. A head that
 * was already sent keeps its place: the receiver has seen it.
 */
export async function yieldToEarlier(
  conn: Queryable,
  t: Tables,
  endpointId: number,
  lowestNew: ReadonlyMap<string, number>,
): Promise<number> {
  if (lowestNew.size === 0) return 0;
  const cases = [...lowestNew].map(() => 'WHEN ? THEN ?').join(' ');
  const r = await exec(
    conn,
    `UPDATE ${t.deliveries} SET status = 'waiting', next_attempt_at = NULL
      WHERE endpoint_id = ? AND ordering_key IN (?) AND status IN ('pending', 'paused')
        AND claim_token IS NULL AND attempts = 0
        AND seq > CASE ordering_key ${cases} END`,
    [endpointId, [...lowestNew.keys()], ...[...lowestNew].flat()],
  );
  return r.affectedRows;
}

/** The head each (endpoint, key) line waits for: its pending or paused delivery with the lowest seq. */
export async function headsOf(conn: Queryable, t: Tables, lines: readonly KeyLine[]): Promise<Map<string, number>> {
  const heads = new Map<string, number>();
  if (lines.length === 0) return heads;
  const r = await rows(
    conn,
    `SELECT endpoint_id, ordering_key, id FROM ${t.deliveries}
      WHERE status IN ('pending', 'paused') AND (endpoint_id, ordering_key) IN (?)
      ORDER BY seq DESC`,
    [lines.map((l) => [l.endpointId, l.key])],
  );
  // Lowest seq last, so it wins.
  for (const x of r) heads.set(lineId(Number(x.endpoint_id), String(x.ordering_key)), Number(x.id));
  return heads;
}

export const lineId = (endpointId: number, key: string) => `${endpointId}\u0000${key}`;

/** An endpoint no longer ordered: its waiting deliveries become due now, in batches. */
export async function releaseWaiting(
  conn: Queryable,
  t: Tables,
  endpointId: number,
  enabled: boolean,
): Promise<number> {
  let total = 0;
  for (;;) {
    const r = await exec(
      conn,
      `UPDATE ${t.deliveries} SET status = ?, next_attempt_at = ${enabled ? 'NOW(3)' : 'NULL'}
        WHERE endpoint_id = ? AND status = 'waiting' LIMIT 1000`,
      [enabled ? 'pending' : 'paused', endpointId],
    );
    total += r.affectedRows;
    if (r.affectedRows < 1000) return total;
  }
}
