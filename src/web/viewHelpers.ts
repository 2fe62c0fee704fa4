/**
 * Small formatting helpers the templates share (as `h`). They return plain
 * strings; templates print them with <%= %>, which escapes.
 */
export const viewHelpers = {
  /** "2025-03-20 10:30:00 UTC": every time on the pages is UTC, as in the database. */
  time(d: Date | null | undefined): string {
    return d ? d.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC') : '—';
  },
  pct(x: number | null | undefined): string {
    return x === null || x === undefined ? '—' : `${(x * 100).toFixed(1)} %`;
  },
  ms(x: number | null | undefined): string {
    return x === null || x === undefined ? '—' : `${Math.round(x)} ms`;
  },
  /** Status → CSS modifier, from a fixed set (never user text in a class name). */
  statusClass(s: string): string {
    return ({ succeeded: 'ok', failed: 'bad', pending: 'wait', paused: 'off' } as Record<string, string>)[s] ?? 'wait';
  },
  headers(h: Record<string, string> | null | undefined): [string, string][] {
    return h ? Object.entries(h) : [];
  },
  short(s: string, n = 80): string {
    return s.length > n ? s.slice(0, n - 1) + '…' : s;
  },
};
