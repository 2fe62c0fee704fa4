/**
 * The fair queue: which claimed delivery goes next. Claimed deliveries wait
 * in one queue per endpoint; they start while the process has a free slot
 * (concurrency) and the endpoint has one (its per-process cap), taking endpoints in turn, so a
 * busy endpoint cannot starve a quiet one. In memory and synchronous, with
 * no database. A rate-limited delivery comes with the start time its claim
 * booked (notBefore) and waits here until then; per-key ordering is kept in
 * the database (db/ordering.ts), so only heads ever reach this queue.
 *
 * A process holds up to 2× its concurrency (and 2× the per-endpoint cap for
 * one endpoint): the second half is the next batch, claimed while the first
 * is in flight, so one claim query serves many requests. A queued delivery
 * waits at most about one request timeout, well inside its lease.
 */
import type { ClaimedDelivery } from '../db/claims.js';

export interface FairQueueDeps {
  /** Requests in flight in this process over all endpoints. */
  concurrency: number;
  /** Requests in flight to one endpoint from this process (a setting: read at each decision). */
  perEndpointCap: () => number;
  /** Starts one delivery; the fair queue counts it in flight until the promise settles. */
  run: (c: ClaimedDelivery) => Promise<void>;
  /** Called after each delivery settles, when the fair queue is not stopped. */
  onSettled?: () => void;
}

export interface FairQueue {
  enqueue(claimed: ClaimedDelivery[]): void;
  /** Starts queued deliveries while there are free slots. */
  dispatch(): void;
  /** How many more deliveries this process should claim now (0 when the window is full enough). */
  claimable(): number;
  /** Endpoints that hold their share of the window: the next claim leaves their rows. */
  fullEndpoints(): number[];
  /** Free places for one endpoint in the next claim. */
  freeSlots(endpointId: number): number;
  /** Whether an endpoint holds its whole share (more of its rows may be due). */
  isFull(endpointId: number): boolean;
  /** Stops starting deliveries; returns the queued ones, never started, to be handed back. */
  stop(): ClaimedDelivery[];
  /** Settles when every started delivery has settled. */
  settled(): Promise<unknown>;
  stats(): { inFlight: number; queued: number };
}

export function createFairQueue(deps: FairQueueDeps): FairQueue {
  const queues = new Map<number, ClaimedDelivery[]>();
  const perEndpoint = new Map<number, number>();
  const running = new Set<Promise<void>>();
  let inFlight = 0;
  let queued = 0;
  let stopped = false;

  const held = (ep: number) => (perEndpoint.get(ep) ?? 0) + (queues.get(ep)?.length ?? 0);
  const endpointWindow = () => 2 * deps.perEndpointCap();

  function start(c: ClaimedDelivery) {
    inFlight++;
    perEndpoint.set(c.endpointId, (perEndpoint.get(c.endpointId) ?? 0) + 1);
    const p: Promise<void> = deps
      .run(c)
      .catch(() => undefined) // run() reports its own errors; a rejection must not stop the queue
      .finally(() => {
        inFlight--;
        const n = (perEndpoint.get(c.endpointId) ?? 1) - 1;
        if (n <= 0) perEndpoint.delete(c.endpointId);
        else perEndpoint.set(c.endpointId, n);
        running.delete(p);
        if (stopped) return;
        dispatch();
        deps.onSettled?.();
      });
    running.add(p);
  }

  // A delivery booked for later by its endpoint's rate limit waits at the head
  // of its endpoint's queue (start times grow along a queue); one timer wakes
  // the dispatch at the earliest booked start.
  let wake: NodeJS.Timeout | null = null;
  let wakeAt = Infinity;
  function wakeUpAt(at: number) {
    if (stopped || at >= wakeAt) return;
    if (wake) clearTimeout(wake);
    wakeAt = at;
    wake = setTimeout(
      () => {
        wake = null;
        wakeAt = Infinity;
        dispatch();
      },
      Math.max(0, at - Date.now()),
    );
  }

  function dispatch() {
    const cap = deps.perEndpointCap();
    const now = Date.now();
    let progressed = true;
    while (!stopped && progressed && inFlight < deps.concurrency && queued > 0) {
      progressed = false;
      for (const [ep, q] of queues) {
        if (inFlight >= deps.concurrency) break;
        if ((perEndpoint.get(ep) ?? 0) >= cap) continue;
        if (q[0]!.notBefore > now) {
          wakeUpAt(q[0]!.notBefore);
          continue;
        }
        const c = q.shift()!;
        queued--;
        // Re-inserting moves this endpoint to the back: round robin across endpoints.
        queues.delete(ep);
        if (q.length) queues.set(ep, q);
        start(c);
        progressed = true;
      }
    }
  }

  return {
    enqueue(claimed) {
      for (const c of claimed) {
        const q = queues.get(c.endpointId);
        if (q) q.push(c);
        else queues.set(c.endpointId, [c]);
        queued++;
      }
    },
    dispatch,
    claimable() {
      const free = 2 * deps.concurrency - inFlight - queued;
      // Claim in batches: one query per quarter of the window, not one per freed slot.
      return free >= (inFlight + queued === 0 ? 1 : Math.ceil(deps.concurrency / 4)) ? free : 0;
    },
    fullEndpoints() {
      return [...new Set([...perEndpoint.keys(), ...queues.keys()])].filter((ep) => held(ep) >= endpointWindow());
    },
    freeSlots: (ep) => endpointWindow() - held(ep),
    isFull: (ep) => held(ep) >= endpointWindow(),
    stop() {
      stopped = true;
      if (wake) clearTimeout(wake);
      const unsent = [...queues.values()].flat();
      queues.clear();
      queued = 0;
      return unsent;
    },
    settled: () => Promise.allSettled([...running]),
    stats: () => ({ inFlight, queued }),
  };
}
