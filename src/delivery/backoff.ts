/**
 * When to try again. Pure: the caller passes the clock and the random source.
 */
export interface RetryPolicy {
  retryScheduleSeconds: readonly number[];
  retryJitterRatio: number;
  retryAfterCapSeconds: number;
}

/**
 * Milliseconds until the next attempt after `attemptsMade` failed attempts,
 * or null when the schedule is used up and the delivery has failed.
 * `retryAfterMs` (from a 429/503 Retry-After) wins when it asks for later.
 */
export function nextDelayMs(
  policy: RetryPolicy,
  attemptsMade: number,
  retryAfterMs: number | null = null,
  random: () => number = Math.random,
): number | null {
  const base = policy.retryScheduleSeconds[attemptsMade - 1];
  if (base === undefined) return null;
  const jitter = 1 + policy.retryJitterRatio * (2 * random() - 1);
  let delayMs = Math.max(0, Math.round(base * 1000 * jitter));
  if (retryAfterMs !== null && retryAfterMs > delayMs)
    delayMs = Math.min(retryAfterMs, policy.retryAfterCapSeconds * 1000);
  return delayMs;
}

/** Retry-After as delay-seconds or HTTP-date, in ms from now; null when absent or unreadable. */
export function parseRetryAfterMs(value: string | undefined, nowMs: number): number | null {
  if (!value) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - nowMs);
}
