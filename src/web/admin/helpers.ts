/**
 * What the admin page groups share: the notice allowlist, form error
 * mapping, route ids, query strings and times typed into forms.
 */
import type { Request } from 'express';
import * as schemas from '../../manage/schemas.js';
import type { ValidationError } from '../../errors.js';

/** Every notice the pages can show; redirects carry only these keys. */
export const NOTICES: Record<string, { kind: 'success' | 'error' | 'info'; text: string }> = {
  'logged-out': { kind: 'info', text: 'You have been logged out.' },
  'endpoint-created': { kind: 'success', text: 'Endpoint created. Its signing secret is below.' },
  'endpoint-saved': { kind: 'success', text: 'Endpoint saved.' },
  'endpoint-deleted': { kind: 'success', text: 'Endpoint deleted, with its deliveries.' },
  'test-sent': { kind: 'success', text: 'Test event queued; it appears in the recent deliveries below.' },
  replayed: { kind: 'success', text: 'Replay queued: it is sent again now, with the same event id, as the next attempt below.' },
  'replayed-many': { kind: 'success', text: '{count} failed deliveries queued for replay, with their event ids.' },
  'replayed-one': { kind: 'success', text: '1 failed delivery queued for replay, with its event id.' },
  'replayed-none': { kind: 'info', text: 'No failed deliveries to this endpoint were created since then: nothing was queued.' },
  'settings-saved': { kind: 'success', text: 'Settings saved. Every sidecar process follows them within 5 seconds.' },
  skipped: { kind: 'success', text: 'Skipped: the delivery ended as failed (it can still be replayed) and the next delivery of its key is on its way.' },
  'resumed': { kind: 'success', text: 'Endpoint enabled; its paused deliveries are being sent.' },
};

/** The notice a redirect asked for, from the allowlist; {count} filled from a numeric count parameter only. */
export function notice(req: Request): { kind: string; text: string } | null {
  const n = NOTICES[String(req.query.notice ?? '')];
  if (!n) return null;
  const count = String(req.query.count ?? '');
  return { kind: n.kind, text: n.text.replace('{count}', /^\d{1,9}$/.test(count) ? count : 'Several') };
}

/** joi details → { field: first message }, with array indexes folded into their field. */
export function fieldErrors(err: ValidationError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of err.details.length ? err.details : [{ field: err.field ?? 'form', message: err.message }]) {
    const field = d.field.replace(/\.\d+$|\[\d+\]$/, '').split('.')[0]!;
    out[field] ??= d.message;
  }
  return out;
}

export function idOf(req: Request): number {
  return schemas.parseId(req.params.id);
}

export function query(params: Record<string, string | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) u.set(k, v);
  return u.toString();
}

/** datetime-local values ("2025-03-20T10:30") are taken as UTC, as the date filters say. */
export function localToIso(v: string): string {
  return /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(v) ? `${v}Z` : v;
}
