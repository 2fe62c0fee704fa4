/**
 * Which endpoints want which event types: exact names, `prefix.*` and `*`.
 */
export const EVENT_PATTERN_RE = /^(\*|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(\.\*)?)$/;

/**
 * `*` is every event the LMS sends, not the sidecar's own webhook.* notices:
 * an endpoint gets those only when it names them (or webhook.*).
 */
export function matches(pattern: string, eventType: string): boolean {
  if (pattern === '*') return !eventType.startsWith('webhook.');
  if (pattern.endsWith('.*')) return eventType.startsWith(pattern.slice(0, -1));
  return pattern === eventType;
}

export function subscribed(patterns: readonly string[], eventType: string): boolean {
  return patterns.some((p) => matches(p, eventType));
}

/** A subscription as the pages say it: "all events", "all order events", or the type itself. */
export function describeSubscription(pattern: string): string {
  if (pattern === '*') return 'all events';
  if (pattern.endsWith('.*')) return `all ${pattern.slice(0, -2)} events`;
  return pattern;
}
