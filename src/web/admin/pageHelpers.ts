/**
 * What the admin page groups share: the notice allowlist, form error
 * mapping, route ids, query strings and times typed into forms.
 */
import type { Request, Response } from 'express';
import * as schemas from '../../manage/schemas.js';
import type { Endpoint } from '../../types.js';
import { asText } from '../../text.js';

/** Every notice the pages can show; redirects carry only these keys. */
export const NOTICES: Record<string, { kind: 'success' | 'error' | 'info'; text: string }> = {
  'logged-out': { kind: 'info', text: 'You have been logged out.' },
  'endpoint-created': { kind: 'success', text: 'Endpoint created. Its signing secret is below.' },
  'endpoint-saved': { kind: 'success', text: 'Endpoint saved.' },
  'templates-saved': { kind: 'success', text: 'Message templates saved.' },
  'transformation-saved': { kind: 'success', text: 'Transformation saved.' },
  'endpoint-deleted': { kind: 'success', text: 'Endpoint deleted, with its deliveries.' },
  'test-sent': { kind: 'success', text: 'Test event queued; it appears in the recent deliveries below.' },
  replayed: {
    kind: 'success',
    text: 'Replay queued: it is sent again now, with the same event id, as the next attempt below.',
  },
  'replayed-many': { kind: 'success', text: '{count} failed deliveries queued for replay, with their event ids.' },
  'replayed-one': { kind: 'success', text: '1 failed delivery queued for replay, with its event id.' },
  'replayed-none': {
    kind: 'info',
    text: 'No failed deliveries to this endpoint were created since then: nothing was queued.',
  },
  'settings-saved': { kind: 'success', text: 'Settings saved. Every sidecar process follows them within 5 seconds.' },
  skipped: {
    kind: 'success',
    text: 'Skipped: the delivery ended as failed (it can still be replayed) and the next delivery of its key is on its way.',
  },
  resumed: { kind: 'success', text: 'Endpoint enabled; its paused deliveries are being sent.' },
};

/** The notice a redirect asked for, from the allowlist; {count} filled from a numeric count parameter only. */
export function notice(req: Request): { kind: string; text: string } | null {
  const n = NOTICES[asText(req.query.notice)];
  if (!n) return null;
  const count = asText(req.query.count);
  return { kind: n.kind, text: n.text.replace('{count}', /^\d{1,9}$/.test(count) ? count : 'Several') };
}

export function idOf(req: Request): number {
  return schemas.parseId(req.params.id);
}

export function query(params: Record<string, string | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) u.set(k, v);
  return u.toString();
}

/**
 * A time typed into a form, in the format the pages show times in
 * ("2026-11-30 10:12", seconds optional, "UTC" optional), or a date alone
 * (midnight), taken as UTC as the labels say. Anything else goes on as typed
 * and the schema names the field.
 */
export function localToIso(v: string): string {
  const m = /^\s*(\d{4}-\d\d-\d\d)(?:[ T](\d\d:\d\d(?::\d\d)?))?\s*(?:UTC|Z)?\s*$/i.exec(v);
  return m ? `${m[1]}T${m[2] ?? '00:00'}Z` : v;
}

/** A time as a form field shows it: the format every other time on the pages has, in UTC. */
export function toField(d: Date): string {
  return d.toISOString().slice(0, 16).replace('T', ' ');
}

/** How the pages name an endpoint everywhere: its description, else its URL (a polling endpoint has none). */
export function endpointLabel(e: Pick<Endpoint, 'id' | 'description' | 'url'>): string {
  return e.description || e.url || `polling endpoint ${e.id}`;
}

/** The log filter's labels, for its messages. */
export const FILTER_LABELS = {
  endpoint_id: 'Endpoint',
  status: 'Status',
  event_type: 'Event type',
  event_id: 'Event id',
  since: 'From',
  until: 'To',
  before: 'Page',
  filters: 'The filters',
};

/** An admin page's address under this site's base ('' for one site served, `/sites/2` in a network). */
export function adminHref(res: Response, path: string): string {
  return `${String(res.locals.base ?? '')}/admin${path}`;
}
