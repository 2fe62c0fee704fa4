/**
 * The process's pace: at most `max_deliveries_per_second` deliveries per
 * second (0: no cap), so a backlog drains beside the site's own queries
 * instead of over them. One token bucket serves both stages: the claims
 * (a quarter second of the pace, taken only as a whole, so claims go out in
 * batches, never one row per statement, and an idle process claims a single
 * event at once) and fan-out (a second of the pace, taken as it refills,
 * spent by the deliveries each batch makes).
 */
export interface PacerOptions {
  /** The bucket holds this many seconds of the pace… */
  burstSeconds: number;
  /** …and at least this many (default 1). */
  minBurst?: number;
  /** true: nothing is allowed until the bucket is full again (batches); false: whatever whole units it holds. */
  wholeBursts: boolean;
}

export interface Pacer {
  /** How many may go now: 0 while held back; Infinity with no cap. */
  allowance(): number;
  /** Takes n from the bucket (it may go below zero: a batch that made more than it was allowed is paid back first). */
  spend(n: number): void;
  /** Milliseconds until allowance() is above 0 again. */
  msUntilNext(): number;
}

export function createPacer(perSecond: () => number, opts: PacerOptions, now: () => number = Date.now): Pacer {
  let tokens = Infinity;
  let at = now();
  const size = (rate: number) => Math.max(opts.minBurst ?? 1, Math.ceil(rate * opts.burstSeconds));
  /** Tokens needed before anything may go. */
  const needed = (rate: number) => (opts.wholeBursts ? size(rate) : 1);
  function refill(rate: number) {
    const t = now();
    tokens = Math.min(size(rate), tokens + ((t - at) / 1000) * rate);
    at = t;
  }
  return {
    allowance() {
      const rate = perSecond();
      if (!(rate > 0)) return Infinity;
      refill(rate);
      return tokens >= needed(rate) ? Math.floor(tokens) : 0;
    },
    spend(n) {
      if (perSecond() > 0) tokens -= n;
    },
    msUntilNext() {
      const rate = perSecond();
      if (!(rate > 0)) return 0;
      refill(rate);
      return Math.max(0, Math.ceil(((needed(rate) - tokens) / rate) * 1000));
    },
  };
}

/** The claims' pace: a quarter second of it at a time. */
export const CLAIM_PACING: PacerOptions = { burstSeconds: 0.25, wholeBursts: true };
/** Fan-out's: a second of the pace, at least 100 (a low pace still fans out in batches), taken as it refills. */
export const FANOUT_PACING: PacerOptions = { burstSeconds: 1, minBurst: 100, wholeBursts: false };
