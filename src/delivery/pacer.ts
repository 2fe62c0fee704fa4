/**
 * The process's pace: at most `max_deliveries_per_second` deliveries claimed
 * per second (0: no cap), so a backlog drains beside the site's own queries
 * instead of over them. A token bucket of a quarter second: claims go out in
 * batches of a quarter of the pace (never one row per statement), and an idle
 * process may claim a quarter second's worth at once, so a single event is
 * not held back.
 */
const STEP_SECONDS = 0.25;

export interface Pacer {
  /** Rows the next claim may take now: 0 while the bucket is below one batch; Infinity with no cap. */
  allowance(): number;
  /** Takes n rows from the bucket (a claim's result). */
  spend(n: number): void;
  /** Milliseconds until allowance() is above 0 again. */
  msUntilNext(): number;
}

export function createPacer(perSecond: () => number, now: () => number = Date.now): Pacer {
  let tokens = Infinity;
  let at = now();
  const step = (rate: number) => Math.max(1, Math.ceil(rate * STEP_SECONDS));
  function refill(rate: number) {
    const t = now();
    tokens = Math.min(step(rate), tokens + ((t - at) / 1000) * rate);
    at = t;
  }
  return {
    allowance() {
      const rate = perSecond();
      if (!(rate > 0)) return Infinity;
      refill(rate);
      return tokens >= step(rate) ? Math.floor(tokens) : 0;
    },
    spend(n) {
      if (perSecond() > 0) tokens -= n;
    },
    msUntilNext() {
      const rate = perSecond();
      if (!(rate > 0)) return 0;
      refill(rate);
      return Math.max(0, Math.ceil(((step(rate) - tokens) / rate) * 1000));
    },
  };
}
