/**
 * The fan-out step of each tick: outbox rows become events and deliveries in
 * batches, and the claim loop is told when there is something to send.
 */
import type { Pool } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import { fanOutIsolating } from './fanout.js';
import { outboxHasOrderingKey } from '../db/outbox.js';
import { SETTLE_MS } from '../db/ordering.js';
import type { SettingsStore } from './settingsStore.js';
import type { Logger } from '../log.js';
import type { DeliveryObserver } from '../metrics.js';
import { retryConflicts } from '../db/conflicts.js';
import { statementBudget } from '../db/sql.js';
import { FANOUT_PACING, createPacer } from './pacer.js';

const FANOUT_BATCH = 500;
const FANOUT_MAX_BATCHES_PER_TICK = 40;

export interface FanOutLoop {
  /** Fans out up to FANOUT_MAX_BATCHES_PER_TICK batches; rejects on a database error. */
  run(): Promise<void>;
  /** Looks at the outbox's columns again (after an "unknown column" error). */
  forgetColumns(): void;
  stop(): void;
}

export function createFanOutLoop(deps: {
  pool: Pool;
  tables: Tables;
  settings: SettingsStore;
  log: Logger;
  observer?: DeliveryObserver;
  /** Deliveries per second (0: no cap): the site's setting, or its share of a network's pace. */
  pace: () => number;
  stopping: () => boolean;
  /** New deliveries are due: claim them. */
  pump: () => void;
}): FanOutLoop {
  const { pool, tables: t, log } = deps;
  // Whether the outbox has ordering_key; looked at again every minute while it
  // has not (an operator may add it), and after an "unknown column" error.
  let orderingKey: { has: boolean; at: number } | null = null;
  async function outboxHasKey(): Promise<boolean> {
    if (!orderingKey || (!orderingKey.has && Date.now() - orderingKey.at > 60_000)) {
      orderingKey = { has: await outboxHasOrderingKey(pool, t), at: Date.now() };
    }
    return orderingKey.has;
  }

  // Heads admitted at fan-out are due SETTLE_MS later: claim them then, not at the tick after.
  let settleTimer: NodeJS.Timeout | null = null;
  function pumpAfterSettling() {
    if (settleTimer || deps.stopping()) return;
    settleTimer = setTimeout(() => {
      settleTimer = null;
      deps.pump();
    }, SETTLE_MS + 20);
    settleTimer.unref();
  }

  // Paced, fan-out makes deliveries at the pace too (the claims pace the sending), spending the bucket by
  // the deliveries made. Rows that make none (rejected, no subscriber) cost nothing, so the outbox never
  // falls behind the site's other events.
  const pacer = createPacer(deps.pace, FANOUT_PACING);

  const onRefused = (id: number, reason: string) =>
    log.warn('the database refused an outbox row; it is stamped rejected and the others go on', {
      outbox_id: id,
      reason,
    });

  return {
    async run() {
      const s = deps.settings.current();
      const withOrderingKey = await outboxHasKey();
      const statementBytes = await statementBudget(pool);
      let left = Math.min(pacer.allowance(), FANOUT_BATCH * FANOUT_MAX_BATCHES_PER_TICK);
      for (let i = 0; i < FANOUT_MAX_BATCHES_PER_TICK && left > 0 && !deps.stopping(); i++) {
        const limit = Math.min(FANOUT_BATCH, left);
        const r = await retryConflicts(() =>
          fanOutIsolating(
            pool,
            t,
            { limit, maxPayloadBytes: s.maxPayloadBytes, withOrderingKey, statementBytes },
            onRefused,
          ),
        );
        if (r.rejected > 0) {
          log.warn('outbox rows rejected; see Events in the admin UI for the reasons', { count: r.rejected });
          deps.observer?.rejected(r.rejected);
        }
        for (const type of r.mismatched) deps.observer?.schemaMismatch?.(type);
        if (r.deliveries > 0) deps.pump();
        if (r.inLine > 0) pumpAfterSettling();
        // A short batch means the outbox is drained, unless the byte budget cut it.
        left -= r.rows;
        pacer.spend(r.deliveries);
        if (r.rows === 0 || (r.rows < limit && !r.truncated)) break;
      }
    },
    forgetColumns() {
      orderingKey = null;
    },
    stop() {
      if (settleTimer) clearTimeout(settleTimer);
      settleTimer = null;
    },
  };
}
