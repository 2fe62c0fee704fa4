/**
 * The claimer: takes due deliveries for this process under a lease, and
 * hands back what it will not send. The claim statement itself (SKIP LOCKED,
 * token and lease stamped in one short transaction) lives in db/claims.
 */
import { randomBytes } from 'node:crypto';
import type { Pool } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import type { SecretBox } from '../secrets.js';
import { claimDue, releaseClaims, type ClaimedDelivery, type ClaimResult } from '../db/claims.js';
import { retryConflicts } from '../db/conflicts.js';
import type { FairQueue } from './fairQueue.js';
import { CLAIM_PACING, createPacer } from './pacer.js';
import { endpointsStillWaiting } from '../db/transformBackoff.js';

/**
 * A claim's lease: twice the request timeout plus 10 s to record the result.
 * Shorter means a dead process's deliveries come back sooner; a result
 * recorded after its lease ran out may be sent twice (at-least-once).
 */
export function leaseMs(timeoutSeconds: number): number {
  return 2 * timeoutSeconds * 1000 + 10_000;
}

export interface Claimer {
  /** Claims up to `limit` due deliveries, leaving the rows of `excludeEndpoints`, at most freeSlots(ep) per endpoint. */
  claim(req: {
    limit: number;
    timeoutSeconds: number;
    excludeEndpoints: number[];
    freeSlots: (endpointId: number) => number;
  }): Promise<ClaimResult>;
  /** Hands claimed deliveries back, due now, for any process to send. */
  release(claims: ClaimedDelivery[]): Promise<void>;
  /** Those of `ids` whose deliveries still wait for their transformation (new code saved ends a wait). */
  stillWaiting(ids: number[]): Promise<Set<number>>;
}

export function createClaimer(deps: { pool: Pool; tables: Tables; secrets: SecretBox; worker: string }): Claimer {
  return {
    claim: (req) =>
      retryConflicts(() =>
        claimDue(deps.pool, deps.tables, deps.secrets, {
          limit: req.limit,
          leaseMs: leaseMs(req.timeoutSeconds),
          token: randomBytes(12).toString('hex'),
          worker: deps.worker,
          excludeEndpoints: req.excludeEndpoints,
          freeSlots: req.freeSlots,
        }),
      ),
    release: (claims) => releaseClaims(deps.pool, deps.tables, claims),
    stillWaiting: (ids) => endpointsStillWaiting(deps.pool, deps.tables, ids),
  };
}

export interface ClaimLoop {
  /** Claims while the fair queue has free places; a call during a claim makes it run once more after. Never rejects. */
  pump(): Promise<void>;
  /** The claim under way, if any (stop() awaits it). */
  running(): Promise<void> | null;
  /** Whether the last claim suggested more rows are due (so finishing requests should pump again). */
  moreDue(): boolean;
  /**
   * Leaves an endpoint's rows out of claims until `untilMs` (local ms): its
   * transformation keeps failing, so its deliveries wait and claiming them
   * would only pend them again. Not "more due": the tick claims them after.
   */
  hold(endpointId: number, untilMs: number): void;
}

/**
 * The claim loop: fills the fair queue's window in batches and hands back
 * rows claimed after stopping began.
 */
export function createClaimLoop(deps: {
  claimer: Claimer;
  queue: FairQueue;
  /** The longest request timeout any endpoint may use: it sets the lease. */
  timeoutSeconds: () => number;
  /** false while stopping or while the database is backed off. */
  mayClaim: () => boolean;
  /** Deliveries this process may claim per second (0: no cap). */
  pace: () => number;
  /** The pace held a claim back (a network counts this site as draining). */
  onPaced?: () => void;
  stopping: () => boolean;
  onSuccess: () => void;
  onError: (err: unknown) => void;
}): ClaimLoop {
  const { claimer, queue } = deps;
  let pumping: Promise<void> | null = null;
  let again = false;
  let moreDue = false;
  // Rate-limited endpoints with no start time free yet: left out of claims until then.
  const rateHeld = new Map<number, number>();
  // Endpoints whose deliveries wait for their transformation: left out until then (see hold()).
  const waitHeld = new Map<number, number>();
  let waitCheckedAt = 0;
  /** At most once a second while any is held: a wait the database no longer has (new code saved) ends here too. */
  async function checkWaits(now: number) {
    if (waitHeld.size === 0 || now - waitCheckedAt < 1000) return;
    waitCheckedAt = now;
    const still = await claimer.stillWaiting([...waitHeld.keys()]);
    for (const ep of waitHeld.keys()) if (!still.has(ep)) waitHeld.delete(ep);
  }
  const pacer = createPacer(deps.pace, CLAIM_PACING);
  // Set while the pace holds claims back: the claim that is owed then.
  let paceTimer: NodeJS.Timeout | null = null;
  function pumpWhenPaced() {
    if (paceTimer || deps.stopping()) return;
    paceTimer = setTimeout(() => {
      paceTimer = null;
      void loop.pump();
    }, pacer.msUntilNext());
    paceTimer.unref();
  }

  async function claimWhileCapacity(): Promise<void> {
    for (;;) {
      const allowed = pacer.allowance();
      if (allowed === 0) {
        moreDue = true;
        deps.onPaced?.();
        pumpWhenPaced();
        return;
      }
      const wanted = Math.min(queue.claimable(), allowed);
      if (deps.stopping() || wanted === 0) return;
      const now = Date.now();
      for (const [ep, until] of rateHeld) if (until <= now) rateHeld.delete(ep);
      for (const [ep, until] of waitHeld) if (until <= now) waitHeld.delete(ep);
      await checkWaits(now);
      const full = queue.fullEndpoints();
      const {
        claimed,
        exhausted,
        rateHeld: held,
      } = await claimer.claim({
        limit: wanted,
        timeoutSeconds: deps.timeoutSeconds(),
        excludeEndpoints: [...new Set([...full, ...rateHeld.keys(), ...waitHeld.keys()])],
        freeSlots: (ep) => queue.freeSlots(ep),
      });
      pacer.spend(claimed.length);
      for (const [ep, until] of held) rateHeld.set(ep, until);
      if (deps.stopping()) {
        await claimer.release(claimed);
        return;
      }
      queue.enqueue(claimed);
      queue.dispatch();
      // A claim that skipped full endpoints cannot tell whether they have more due,
      // so finishing requests keep asking.
      moreDue = !exhausted || full.length > 0 || rateHeld.size > 0 || claimed.some((c) => queue.isFull(c.endpointId));
      if (exhausted || claimed.length === 0) return;
    }
  }

  const loop: ClaimLoop = {
    pump() {
      if (!deps.mayClaim()) return Promise.resolve();
      if (pumping) {
        // Asked while a claim is under way: run once more when it is done, so no request is lost.
        again = true;
        return pumping;
      }
      pumping = (async () => {
        try {
          do {
            again = false;
            await claimWhileCapacity();
          } while (again && !deps.stopping());
          deps.onSuccess();
        } catch (err) {
          deps.onError(err);
        } finally {
          pumping = null;
        }
      })();
      return pumping;
    },
    running: () => pumping,
    moreDue: () => moreDue,
    hold(endpointId, untilMs) {
      waitHeld.set(endpointId, Math.max(untilMs, waitHeld.get(endpointId) ?? 0));
    },
  };
  return loop;
}
