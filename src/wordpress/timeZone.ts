/**
 * The site's time zone as WordPress keeps it ({prefix}options
 * timezone_string, else gmt_offset in hours), for showing times on the admin
 * pages; UTC where there is no options table.
 */
import type { Pool } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import { getOptions } from '../db/wordpress.js';

export interface SiteZone {
  /** An IANA name ("Europe/Paris"), or null for a fixed offset. */
  iana: string | null;
  /** Minutes east of UTC, for a fixed offset. */
  offsetMinutes: number;
  /** How the pages name it: "Europe/Paris", "UTC+05:30", "UTC". */
  label: string;
}

export const UTC_ZONE: SiteZone = { iana: null, offsetMinutes: 0, label: 'UTC' };

export function zoneFromOptions(timezoneString: string | undefined, gmtOffset: string | undefined): SiteZone {
  if (timezoneString && !/^UTC[+-]/.test(timezoneString)) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: timezoneString });
      return { iana: timezoneString, offsetMinutes: 0, label: timezoneString };
    } catch {
      // not a zone this runtime knows: fall back to the offset
    }
  }
  const hours = Number(gmtOffset ?? 0);
  if (!Number.isFinite(hours) || hours === 0 || Math.abs(hours) > 14) return UTC_ZONE;
  const minutes = Math.round(hours * 60);
  const abs = Math.abs(minutes);
  return {
    iana: null,
    offsetMinutes: minutes,
    label: `UTC${minutes < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`,
  };
}

const pad = (n: number) => String(n).padStart(2, '0');

/** "2026-11-30 12:13:14 CET" in the zone; the short name where Intl has one, else the label. */
export function formatInZone(d: Date, zone: SiteZone): string {
  if (zone.iana) {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-US', {
        timeZone: zone.iana,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        hourCycle: 'h23',
        timeZoneName: 'short',
      })
        .formatToParts(d)
        .map((p) => [p.type, p.value]),
    );
    return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} ${parts.timeZoneName ?? zone.label}`;
  }
  const s = new Date(d.getTime() + zone.offsetMinutes * 60_000);
  return `${s.getUTCFullYear()}-${pad(s.getUTCMonth() + 1)}-${pad(s.getUTCDate())} ${pad(s.getUTCHours())}:${pad(s.getUTCMinutes())}:${pad(s.getUTCSeconds())} ${zone.label}`;
}

/** Reads the zone at most once a minute; pages never wait on a failing read (they show UTC meanwhile). */
export function createZoneSource(pool: Pool, t: Tables, ttlMs = 60_000): { current(): Promise<SiteZone> } {
  let cached: { zone: SiteZone; at: number } | null = null;
  return {
    async current() {
      if (cached && Date.now() - cached.at < ttlMs) return cached.zone;
      let zone = cached?.zone ?? UTC_ZONE;
      try {
        const o = await getOptions(pool, t, ['timezone_string', 'gmt_offset']);
        zone = zoneFromOptions(o.get('timezone_string'), o.get('gmt_offset'));
      } catch {
        // the database is away: keep what we had
      }
      cached = { zone, at: Date.now() };
      return zone;
    },
  };
}
