/**
 * The admin pages under /admin: server-rendered EJS, working without
 * client-side JavaScript. Thin routes: validate → call the service → render
 * or redirect (POST/redirect/GET, with a notice code from an allowlist).
 */
import express, { type Request, type Response, type Router } from 'express';
import { parse as parseCookieHeader } from 'cookie';
import type { Pool } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import type { Service } from '../manage/service.js';
import * as schemas from '../manage/schemas.js';
import { check } from '../manage/schemas.js';
import { ValidationError } from '../errors.js';
import { constantTimeEqual } from './auth.js';
import { LoginThrottle, randomToken, type AdminAuth, type Session } from './adminAuth.js';
import * as stats from '../db/stats.js';
import { listOutbox } from '../db/outbox.js';
import { DELIVERY_STATUSES, EVENT_CATALOG, type DeliveryStatus, type Settings } from '../types.js';
import type { EndpointInput } from '../manage/service.js';
import { describeSubscription } from '../delivery/subscriptions.js';
import { maskSecret } from './present.js';
import { viewHelpersFor } from './viewHelpers.js';
import type { SiteZone } from '../wordpress/timeZone.js';

export interface AdminDeps {
  service: Service;
  auth: AdminAuth;
  throttle: LoginThrottle;
  pool: Pool;
  tables: Tables;
  zones: { current(): Promise<SiteZone> };
}

const SESSION_COOKIE = 'whs_session';
const LOGIN_CSRF_COOKIE = 'whs_login_csrf';

/** Every notice the pages can show; redirects carry only these keys. */
const NOTICES: Record<string, { kind: 'success' | 'error' | 'info'; text: string }> = {
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
  'resumed': { kind: 'success', text: 'Endpoint enabled; its paused deliveries are being sent.' },
};

export function adminRouter(deps: AdminDeps): Router {
  const { service, auth, throttle } = deps;
  const r = express.Router();
  r.use(express.urlencoded({ extended: false, limit: '100kb', parameterLimit: 200 }));
  r.use((req, _res, next) => {
    // A POST without a form body still gets an object, so every check below can read it.
    req.body ??= {};
    next();
  });

  // ---- login / logout (no session needed) ----
  r.get('/login', async (req, res) => {
    if (await auth.loadSession(cookies(req)[SESSION_COOKIE])) return res.redirect(303, '/admin');
    renderLogin(req, res, 200, null);
  });

  r.post('/login', async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const token = String(body._csrf ?? '');
    const cookieToken = cookies(req)[LOGIN_CSRF_COOKIE] ?? '';
    if (!token || !cookieToken || !constantTimeEqual(token, cookieToken)) return renderLogin(req, res, 403, 'The login form expired. Please try again.');
    const key = req.ip ?? 'unknown';
    const wait = await throttle.take(key);
    if (wait > 0) {
      res.set('Retry-After', String(wait));
      return renderLogin(req, res, 429, `Too many failed logins. Try again in ${Math.ceil(wait / 60)} minutes.`);
    }
    const password = typeof body.password === 'string' ? body.password.slice(0, 4096) : '';
    const userName = typeof body.username === 'string' ? body.username.slice(0, 200) : '';
    const who = password ? await auth.checkLogin(userName, password) : null;
    if (!who) {
      // One message for an unknown user, a wrong password and a non-administrator: no account oracle.
      return renderLogin(req, res, 401, userName.trim() && userName.trim() !== 'admin'
        ? 'That user name or password is not right, or the account is not a WordPress administrator.'
        : 'That password is not right.');
    }
    await throttle.succeed(key);
    // A new session id at every login: a session fixed before login is worthless.
    const { id } = await auth.createSession(who);
    res.cookie(SESSION_COOKIE, id, cookieOptions(req, '/admin'));
    res.clearCookie(LOGIN_CSRF_COOKIE, { path: '/admin/login' });
    res.redirect(303, safeNext(body.next));
  });

  // ---- everything below needs a session ----
  r.use(async (req, res, next) => {
    const session = await auth.loadSession(cookies(req)[SESSION_COOKIE]);
    if (!session) {
      const nextPath = req.method === 'GET' ? `?next=${encodeURIComponent(req.originalUrl)}` : '';
      return res.redirect(303, `/admin/login${nextPath}`);
    }
    res.locals.session = session;
    // Times in the site's WordPress time zone, UTC alongside.
    res.locals.h = viewHelpersFor(await deps.zones.current());
    res.locals.csrfToken = session.csrfToken;
    res.locals.notice = notice(req);
    res.locals.path = req.path;
    if (req.method === 'POST') {
      const token = String((req.body as Record<string, unknown>)?._csrf ?? '');
      if (!token || !constantTimeEqual(token, session.csrfToken)) {
        return res.status(403).render('error', { title: 'Form expired', message: 'This form expired or did not come from this site. Go back, reload the page and try again.' });
      }
    }
    next();
  });

  r.post('/logout', async (_req, res) => {
    await auth.destroySession(res.locals.session as Session);
    res.clearCookie(SESSION_COOKIE, { path: '/admin' });
    res.redirect(303, '/admin/login?notice=logged-out');
  });

  // ---- dashboard ----
  r.get('/', async (_req, res) => {
    const [counts, hourly, latency, endpoints] = await Promise.all([
      stats.countsByStatus24h(deps.pool, deps.tables),
      stats.hourly24h(deps.pool, deps.tables),
      stats.latency24h(deps.pool, deps.tables),
      service.listEndpoints(),
    ]);
    const done = counts.succeeded + counts.failed;
    res.render('dashboard', {
      title: 'Dashboard',
      counts,
      successRate: done ? counts.succeeded / done : null,
      latency,
      chart: barChart(hourly),
      troubled: endpoints.filter((e) => !e.enabled || e.failingSince),
    });
  });

  // ---- endpoints ----
  r.get('/endpoints', async (_req, res) => {
    const [endpoints, health, settings] = await Promise.all([service.listEndpoints(), stats.endpointHealth24h(deps.pool, deps.tables), service.getSettings()]);
    res.render('endpoints', { title: 'Endpoints', endpoints, health, httpsOnly: settings.https_only, describe: describeSubscription });
  });

  r.get('/endpoints/new', (_req, res) => {
    res.render('endpoint-form', { ...formLocals(), title: 'Add endpoint', endpoint: null, values: { url: '', description: '', events: [], other: '', enabled: true, confirm: false }, errors: {}, needsConfirm: false });
  });

  r.post('/endpoints', async (req, res) => {
    const values = endpointValues(req.body as Record<string, unknown>);
    try {
      const input = check<EndpointInput>(schemas.endpointCreate, toEndpointInput(values));
      const e = await service.createEndpoint(input);
      res.redirect(303, `/admin/endpoints/${e.id}?notice=endpoint-created`);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      res.status(400).render('endpoint-form', { ...formLocals(), title: 'Add endpoint', endpoint: null, values, errors: fieldErrors(err), needsConfirm: err.flags.needsConfirm === true });
    }
  });

  r.get('/endpoints/:id', async (req, res) => {
    await renderEndpoint(res, idOf(req), 200);
  });

  r.post('/endpoints/:id', async (req, res) => {
    const id = idOf(req);
    const body = req.body as Record<string, unknown>;
    const values = endpointValues(body);
    try {
      const patch = check<EndpointInput>(schemas.endpointCreate, toEndpointInput(values));
      const { resumed } = await service.updateEndpoint(id, patch, { resumePaused: body.resume_paused === 'on' });
      res.redirect(303, `/admin/endpoints/${id}?notice=${resumed > 0 ? 'resumed' : 'endpoint-saved'}`);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      await renderEndpoint(res, id, 400, values, fieldErrors(err), err.flags.needsConfirm === true);
    }
  });

  r.post('/endpoints/:id/rotate', async (req, res) => {
    const id = idOf(req);
    const body = req.body as Record<string, unknown>;
    if (body.confirm !== 'on') {
      return renderEndpoint(res, id, 400, undefined, { rotate: 'Tick the box to rotate: receivers must be given the new secret before the grace period ends.' });
    }
    let grace: number;
    try {
      ({ grace_hours: grace } = check<{ grace_hours: number }>(schemas.rotateSecret, { grace_hours: String(body.grace_hours ?? '') }));
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return renderEndpoint(res, id, 400, undefined, { rotate: 'Choose how long the previous secret keeps working.' });
    }
    const e = await service.rotateSecret(id, { grace_hours: grace });
    // The new secret is shown once, right away, on this answer (not carried through a redirect).
    res.locals.notice = {
      kind: 'success',
      text: grace > 0
        ? 'Secret rotated. Give the new secret below to your receivers: until the grace period ends they may check it in X-Webhook-Signature-Next, while X-Webhook-Signature stays signed with the previous one.'
        : 'Secret rotated with no grace period: from now on every request is signed with the new secret below only.',
    };
    await renderEndpoint(res, id, 200, undefined, {}, false, e.secret);
  });

  r.post('/endpoints/:id/test', async (req, res) => {
    const id = idOf(req);
    await service.sendTestEvent(id);
    res.redirect(303, `/admin/endpoints/${id}?notice=test-sent`);
  });

  r.post('/endpoints/:id/replay-failed', async (req, res) => {
    const id = idOf(req);
    const raw = String((req.body as Record<string, unknown>).since ?? '');
    let since: Date;
    try {
      ({ since } = check<{ since: Date }>(schemas.replayFailed, { since: localToIso(raw) }));
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return renderEndpoint(res, id, 400, undefined, { since: 'Pick a date and time to replay failed deliveries from.' });
    }
    try {
      const n = await service.replayFailedSince(id, since);
      res.redirect(303, `/admin/endpoints/${id}?${n === 0 ? 'notice=replayed-none' : n === 1 ? 'notice=replayed-one' : `notice=replayed-many&count=${n}`}`);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      await renderEndpoint(res, id, 400, undefined, { since: err.message });
    }
  });

  r.post('/endpoints/:id/delete', async (req, res) => {
    const id = idOf(req);
    // Deleting takes the whole history with it, so it asks twice (no JavaScript confirm needed).
    if ((req.body as Record<string, unknown>).confirm !== 'on') {
      return renderEndpoint(res, id, 400, undefined, { confirm: 'Tick the box to confirm: this deletes the endpoint with all its deliveries.' });
    }
    await service.deleteEndpoint(id);
    res.redirect(303, '/admin/endpoints?notice=endpoint-deleted');
  });

  // ---- deliveries ----
  r.get('/deliveries', async (req, res) => {
    const q = req.query as Record<string, string | undefined>;
    const filters = {
      endpoint_id: q.endpoint_id || undefined,
      status: q.status || undefined,
      event_type: q.event_type?.trim() || undefined,
      event_id: q.event_id?.trim() || undefined,
      since: q.since ? localToIso(q.since) : undefined,
      until: q.until ? localToIso(q.until) : undefined,
      before: q.before || undefined,
      limit: 50,
    };
    let error: string | null = null;
    let list: Awaited<ReturnType<Service['listDeliveries']>> = [];
    try {
      const f = check<{ endpoint_id?: number; status?: DeliveryStatus; event_type?: string; event_id?: string; since?: Date; until?: Date; before?: number; limit: number }>(
        schemas.deliveryQuery,
        filters,
        'filters',
      );
      list = await service.listDeliveries({
        endpointId: f.endpoint_id,
        status: f.status,
        eventType: f.event_type,
        eventId: f.event_id,
        createdFrom: f.since,
        createdTo: f.until,
        beforeId: f.before,
        limit: f.limit,
      });
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      error = err.message;
    }
    const endpoints = await service.listEndpoints();
    const keep = { endpoint_id: q.endpoint_id, status: q.status, event_type: q.event_type, event_id: q.event_id, since: q.since, until: q.until };
    const last = list.at(-1);
    res.status(error ? 400 : 200).render('deliveries', {
      title: 'Delivery log',
      list,
      endpoints,
      endpointNames: new Map(endpoints.map((e) => [e.id, e.url])),
      statuses: DELIVERY_STATUSES,
      filters: keep,
      error,
      olderHref: list.length === 50 && last ? `/admin/deliveries?${query({ ...keep, before: String(last.id) })}` : null,
      newestHref: q.before ? `/admin/deliveries?${query(keep)}` : null,
    });
  });

  r.get('/deliveries/:id', async (req, res) => {
    await renderDelivery(res, idOf(req), 200);
  });

  r.post('/deliveries/:id/replay', async (req, res) => {
    const id = idOf(req);
    try {
      await service.replayDelivery(id);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      // Nothing was queued: say why on the delivery's own page.
      res.locals.notice = { kind: 'error', text: err.message };
      return renderDelivery(res, id, 400);
    }
    res.redirect(303, `/admin/deliveries/${id}?notice=replayed`);
  });

  // ---- events (the outbox as the sidecar sees it) ----
  r.get('/events', async (req, res) => {
    const before = Number(req.query.before);
    const rejectedOnly = req.query.rejected === '1';
    const list = await listOutbox(deps.pool, deps.tables, { beforeId: Number.isSafeInteger(before) && before > 0 ? before : undefined, rejectedOnly, limit: 50 });
    const last = list.at(-1);
    res.render('events', {
      title: 'Events',
      list,
      rejectedOnly,
      olderHref: list.length === 50 && last ? `/admin/events?${query({ rejected: rejectedOnly ? '1' : undefined, before: String(last.id) })}` : null,
    });
  });

  // ---- settings ----
  r.get('/settings', async (_req, res) => {
    const s = await service.getSettings();
    res.render('settings', { title: 'Settings', values: settingsValues(s), errors: {}, needsConfirm: false });
  });

  r.post('/settings', async (req, res) => {
    const body = req.body as Record<string, unknown>;
    // Fields the form did not send keep their value; a field sent empty is validated as empty.
    const sent = SETTINGS_FIELDS.filter((f) => f in body);
    const values = { ...settingsValues(await service.getSettings()), ...Object.fromEntries(sent.map((f) => [f, String(body[f]).trim()])) };
    try {
      const patch = check<Partial<Settings>>(schemas.settingsPatch, toSettingsPatch(values, sent));
      await service.updateSettings({ ...patch, confirm: body.confirm === 'on' });
      res.redirect(303, '/admin/settings?notice=settings-saved');
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      // A change that needs confirming comes back with what it would do and a box to tick.
      res.status(400).render('settings', { title: 'Settings', values, errors: fieldErrors(err), needsConfirm: err.flags.needsConfirm === true });
    }
  });

  // ---- helpers bound to deps ----
  async function renderDelivery(res: Response, id: number, status: number) {
    const { delivery, attempts } = await service.getDelivery(id);
    const endpoint = await service.getEndpoint(delivery.endpointId).catch(() => null);
    res.status(status).render('delivery', { title: `Delivery ${delivery.id}`, delivery, attempts, endpoint, envelope: prettyJson(delivery.body) });
  }

  async function renderEndpoint(res: Response, id: number, status: number, values?: EndpointValues, errors: Record<string, string> = {}, needsConfirm = false, newSecret: string | null = null) {
    const endpoint = await service.getEndpoint(id);
    const [recent, paused] = await Promise.all([
      service.listDeliveries({ endpointId: id, limit: 20 }),
      service.listDeliveries({ endpointId: id, status: 'paused', limit: 1 }),
    ]);
    const known = new Set(catalogChoices().flatMap((g) => [...g.types, ...(g.wildcard ? [g.wildcard] : [])]).concat('*'));
    res.status(status).render('endpoint-form', {
      ...formLocals(),
      title: endpoint.description || endpoint.url,
      endpoint,
      maskedSecret: maskSecret(endpoint.secret),
      recent,
      hasPaused: paused.length > 0,
      values: values ?? {
        url: endpoint.url,
        description: endpoint.description,
        events: endpoint.events.filter((e) => known.has(e)),
        other: endpoint.events.filter((e) => !known.has(e)).join(', '),
        enabled: endpoint.enabled,
        confirm: false,
      },
      errors,
      needsConfirm,
      newSecret,
      graceDefault: (await service.getSettings()).rotation_grace_hours,
      httpsOnly: (await service.getSettings()).https_only,
      defaultSince: new Date(Date.now() - 24 * 3600_000).toISOString().slice(0, 16),
    });
  }

  return r;
}

// ---- pure helpers ----

interface EndpointValues {
  url: string;
  description: string;
  events: string[];
  other: string;
  enabled: boolean;
  confirm: boolean;
}

function endpointValues(body: Record<string, unknown>): EndpointValues {
  const ev = body.events;
  const events = (Array.isArray(ev) ? ev : ev === undefined ? [] : [ev]).map(String);
  return {
    url: String(body.url ?? '').trim(),
    description: String(body.description ?? ''),
    events,
    other: String(body.events_other ?? ''),
    enabled: body.enabled === 'on',
    confirm: body.confirm === 'on',
  };
}

/**
 * Entries of the "other types" box are separated by commas or new lines, not
 * spaces: "enrollment created" stays one entry and is refused as not an
 * event type, instead of becoming two subscriptions that match nothing.
 */
function toEndpointInput(v: EndpointValues) {
  const other = v.other.split(/[,\r\n]+/).map((x) => x.trim()).filter(Boolean);
  return { url: v.url, description: v.description, events: [...new Set([...v.events, ...other])], enabled: v.enabled, ...(v.confirm ? { confirm: true } : {}) };
}

const SETTINGS_FIELDS = [
  'retry_schedule_seconds',
  'timeout_seconds',
  'retry_jitter_ratio',
  'retry_after_cap_seconds',
  'max_in_flight_per_endpoint',
  'auto_disable_after_hours',
  'retention_days',
  'response_body_max_bytes',
  'max_payload_bytes',
  'rotation_grace_hours',
  'https_only',
] as const;

function settingsValues(s: Settings): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of SETTINGS_FIELDS) {
    const v = s[f];
    out[f] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

function toSettingsPatch(values: Record<string, string>, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = values[f] ?? '';
    if (f === 'retry_schedule_seconds') out[f] = v === '' ? [] : v.split(/[\s,]+/).filter(Boolean).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
    else out[f] = v;
  }
  return out;
}

/** joi details → { field: first message }, with array indexes folded into their field. */
function fieldErrors(err: ValidationError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of err.details.length ? err.details : [{ field: err.field ?? 'form', message: err.message }]) {
    const field = d.field.replace(/\.\d+$|\[\d+\]$/, '').split('.')[0]!;
    out[field] ??= d.message;
  }
  return out;
}

/** The catalog as the form offers it: each group with its wildcard when all its types share a prefix (order.*). */
export function catalogChoices(): { name: string; wildcard: string | null; types: readonly string[] }[] {
  return Object.entries(EVENT_CATALOG).map(([name, types]) => {
    const prefix = types[0]!.split('.')[0]!;
    return { name, wildcard: types.every((x) => x.startsWith(`${prefix}.`)) ? `${prefix}.*` : null, types };
  });
}

function formLocals() {
  return { catalog: catalogChoices(), describe: describeSubscription };
}

/** The notice a redirect asked for, from the allowlist; {count} filled from a numeric count parameter only. */
function notice(req: Request): { kind: string; text: string } | null {
  const n = NOTICES[String(req.query.notice ?? '')];
  if (!n) return null;
  const count = String(req.query.count ?? '');
  return { kind: n.kind, text: n.text.replace('{count}', /^\d{1,9}$/.test(count) ? count : 'Several') };
}

function idOf(req: Request): number {
  return schemas.parseId(req.params.id);
}

function cookies(req: Request): Record<string, string | undefined> {
  return parseCookieHeader(req.headers.cookie ?? '');
}

function cookieOptions(req: Request, path: string) {
  return { httpOnly: true, sameSite: 'lax' as const, secure: req.secure, path };
}

function renderLogin(req: Request, res: Response, status: number, error: string | null) {
  const token = randomToken();
  res.cookie(LOGIN_CSRF_COOKIE, token, { ...cookieOptions(req, '/admin/login'), maxAge: 3600_000 });
  const body = req.body as Record<string, unknown> | undefined;
  // The user name typed is kept (it is escaped by the template); the password never is.
  const userName = typeof body?.username === 'string' ? body.username.slice(0, 200) : '';
  res.status(status).render('login', { title: 'Log in', csrfToken: token, error, notice: notice(req), userName, next: safeNext(req.query.next ?? body?.next) });
}

/** Only same-site admin paths: an open redirect would make the login page a phishing tool. */
function safeNext(v: unknown): string {
  const s = typeof v === 'string' ? v : '';
  return /^\/admin(\/[A-Za-z0-9/_\-?=&%.]*)?$/.test(s) && !s.startsWith('//') ? s : '/admin';
}

function query(params: Record<string, string | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) u.set(k, v);
  return u.toString();
}

/** datetime-local values ("2025-03-20T10:30") are taken as UTC, as every time on these pages is. */
function localToIso(v: string): string {
  return /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(v) ? `${v}Z` : v;
}

/** Past this, an envelope that cannot be laid out is cut: nobody reads 200 KB of brackets. */
const RAW_SHOWN_CHARS = 4096;

function prettyJson(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    // Deeper than JSON.stringify can recurse: show the start as it was sent, and say so.
    const cut = body.length > RAW_SHOWN_CHARS;
    return `(nested too deep to lay out; shown as sent${cut ? `, first ${RAW_SHOWN_CHARS} of ${body.length} characters — GET /api/deliveries/:id returns it whole` : ''})\n${body.slice(0, RAW_SHOWN_CHARS)}`;
  }
}

export interface Bar {
  x: number;
  okHeight: number;
  otherHeight: number;
  label: string;
  title: string;
}

/** 24 hourly bars as SVG geometry: computed here so the template only draws. */
export function barChart(hourly: { hour: Date; succeeded: number; other: number }[], width = 720, height = 160) {
  const max = Math.max(1, ...hourly.map((h) => h.succeeded + h.other));
  const slot = width / hourly.length;
  const bars: Bar[] = hourly.map((h, i) => ({
    x: Math.round(i * slot + 2),
    okHeight: Math.round((h.succeeded / max) * (height - 20)),
    otherHeight: Math.round((h.other / max) * (height - 20)),
    label: i % 3 === 0 ? `${String(h.hour.getUTCHours()).padStart(2, '0')}h` : '',
    title: `${h.hour.toISOString().slice(0, 13).replace('T', ' ')}:00 UTC: ${h.succeeded} succeeded, ${h.other} other`,
  }));
  return { width, height, barWidth: Math.max(2, Math.floor(slot - 4)), bars, max };
}
