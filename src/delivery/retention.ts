/**
 * The daily retention job: removes what is older than `retention_days` —
 * attempt logs, fanned-out outbox rows, finished deliveries and the events
 * nothing refers to any more — in small batches with a pause between them.
 * Pending and paused deliveries are never pruned. A lease lock (db/locks.ts)
 * lets one replica do it, on any node of a cluster, while the others skip.
 */
import type { Pool } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import type { Logger } from '../log.js';
import * as sql from '../db/retention.js';
import { newHolder, withLock } from '../db/locks.js';

/** Pause between batches, so pruning never competes with delivery for long. */
const PAUSE_MS = 50;

export interface PruneResult {
  attempts: number;
  outbox: number;
  deliveries: number;
  events: number;
}

export async function pruneOnce(
  pool: Pool,
  t: Tables,
  retentionDays: number,
  log: Logger,
  now = new Date(),
): Promise<PruneResult | null> {
  const cutoff = new Date(now.getTime() - retentionDays * 86_400_000);
  // One replica prunes, over every node of a cluster; the others skip (no wait).
  const r = await withLock(pool, t, 'retention', newHolder(), { leaseMs: 60_000, waitMs: null }, async () => {
    const result: PruneResult = { attempts: 0, outbox: 0, deliveries: 0, events: 0 };
    const steps: [keyof PruneResult, typeof sql.pruneAttempts][] = [
      ['attempts', sql.pruneAttempts],
      ['outbox', sql.pruneOutbox],
      ['deliveries', sql.pruneDeliveries],
      ['events', sql.pruneEvents],
    ];
    for (const [name, step] of steps) {
      for (;;) {
        const n = await step(pool, t, cutoff);
        result[name] += n;
        if (n < sql.BATCH) break;
        await new Promise((res) => setTimeout(res, PAUSE_MS));
      }
    }
    log.info('retention pruned old rows', { ...result, cutoff: cutoff.toISOString() });
    return result;
  });
  return r.ran ? r.value : null;
}
