/**
 * Which endpoints want which event types: exact names, `prefix.*` and `*`.
 */
export const EVENT_PATTERN_RE = /^(\*|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(\.\*)?)$/;

export function matches(pattern: string, eventType: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return eventType.startsWith(pattern.slice(0, -1));
  return pattern === eventType;
}

export function subscribed(patterns: readonly string[], eventType: string): boolean {
  return patterns.some((p) => matches(p, eventType));
}
