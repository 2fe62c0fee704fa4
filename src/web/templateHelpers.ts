/**
 * Small formatting helpers the templates share (as `h`). They return plain
 * strings; templates print them with <%= %>, which escapes.
 */
import { formatInZone, UTC_ZONE, type SiteZone } from '../wordpress/timeZone.js';
import { DATE_EXAMPLE } from './admin/messages.js';

const utc = (d: Date) =>
  d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, ' UTC');

/** The helpers with times shown in the site's zone, UTC alongside ("2026-11-30 12:13:14 CET (11:13:14 UTC)"). */
export function viewHelpersFor(zone: SiteZone) {
  return {
    ...viewHelpers,
    zone: zone.label,
    time(d: Date | null | undefined): string {
      if (!d || Number.isNaN(d.getTime())) return '—';
      if (zone === UTC_ZONE) return utc(d);
      const local = formatInZone(d, zone);
      const sameDay = local.slice(0, 10) === d.toISOString().slice(0, 10);
      return `${local} (${sameDay ? d.toISOString().slice(11, 19) + ' UTC' : utc(d)})`;
    },
  };
}

export const viewHelpers = {
  zone: 'UTC',
  /** How a time is typed into a form: the format the pages show times in. */
  dateExample: DATE_EXAMPLE,
  /** "2025-03-20 10:30:00 UTC", where the site's zone is not known. */
  time(d: Date | null | undefined): string {
    return d && !Number.isNaN(d.getTime()) ? utc(d) : '—';
  },
  pct(x: number | null | undefined): string {
    return x === null || x === undefined ? '—' : `${(x * 100).toFixed(1)} %`;
  },
  ms(x: number | null | undefined): string {
    return x === null || x === undefined ? '—' : `${Math.round(x)} ms`;
  },
  /** Status → CSS modifier, from a fixed set (never user text in a class name). */
  statusClass(s: string): string {
    return (
      (
        { succeeded: 'ok', failed: 'bad', pending: 'wait', waiting: 'off', paused: 'off', cancelled: 'off' } as Record<
          string,
          string
        >
      )[s] ?? 'wait'
    );
  },
  headers(h: Record<string, string> | null | undefined): [string, string][] {
    return h ? Object.entries(h) : [];
  },
  /**
   * A form control's aria attributes: described by its hints and its error,
   * invalid while it has one. Printed raw (<%- %>), so ids are escaped here.
   */
  described(errors: Record<string, string> | undefined, field: string, ...hints: string[]): string {
    const bad = !!errors?.[field];
    const ids = [...hints, ...(bad ? [`${field}-error`] : [])].map((x) => x.replace(/[^\w-]/g, ''));
    return (bad ? ' aria-invalid="true"' : '') + (ids.length ? ` aria-describedby="${ids.join(' ')}"` : '');
  },
  short(s: string, n = 80): string {
    return s.length > n ? s.slice(0, n - 1) + '…' : s;
  },
};
