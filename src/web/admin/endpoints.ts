/**
 * Endpoint pages: list, add, edit (subscriptions, enabled), rotate the
 * secret, send a test event, replay failed deliveries, delete.
 */
import express, { type Response, type Router } from 'express';
import * as schemas from '../../manage/schemas.js';
import { check } from '../../manage/schemas.js';
import type { EndpointInput, Service } from '../../manage/service.js';
import { ValidationError } from '../../errors.js';
import type { Endpoint } from '../../types.js';
import { EVENT_CATALOG } from '../../catalog.js';
import { describeFilter } from '../../delivery/filters.js';
import { attemptsChart } from '../charts.js';
import { EVENT_DESCRIPTIONS } from '../../catalog.js';
import { describeSubscription } from '../../delivery/subscriptions.js';
import { maskSecret } from '../apiPresent.js';
import { idOf, localToIso, toField } from './pageHelpers.js';
import { DATE_EXAMPLE, plainErrors, plainSentence } from './messages.js';
import type { AdminDeps } from './deps.js';
import { asText } from '../../text.js';

/** The endpoint form's labels, as its messages name the fields. */
const ENDPOINT_LABELS = {
  url: 'Endpoint URL',
  description: 'Description',
  events: 'Events to send',
  enabled: 'Enabled',
  ordered: 'Ordered per key',
  filter: 'Filter',
  headers: 'Extra headers',
  auth: 'Authorization',
  rate_limit_per_second: 'Rate limit',
  timeout_seconds: 'Request timeout',
  retry_schedule_seconds: 'Retry schedule',
  signing: 'Standard Webhooks signature',
  body: 'The form',
};

export function endpointsRouter(deps: AdminDeps): Router {
  const { service } = deps;
  const r = express.Router();
  r.get('/endpoints', async (_req, res) => {
    const [endpoints, health, settings] = await Promise.all([
      service.listEndpoints(),
      service.endpointHealth24h(),
      service.getSettings(),
    ]);
    res.render('endpoints', {
      title: 'Endpoints',
      endpoints,
      health,
      httpsOnly: settings.https_only,
      describe: describeSubscription,
    });
  });

  r.get('/endpoints/new', async (_req, res) => {
    res.render('endpoint-form', {
      ...(await formLocals(service)),
      title: 'Add endpoint',
      endpoint: null,
      values: {
        url: '',
        description: '',
        events: [],
        other: '',
        enabled: true,
        ordered: false,
        confirm: false,
        ...optionValues(null),
      },
      errors: {},
      needsConfirm: false,
    });
  });

  r.post('/endpoints', async (req, res) => {
    const values = endpointValues(req.body as Record<string, unknown>);
    try {
      const input = check<EndpointInput>(schemas.endpointCreate, toEndpointInput(values));
      const e = await service.createEndpoint(input);
      res.redirect(303, `/admin/endpoints/${e.id}?notice=endpoint-created`);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      res.status(400).render('endpoint-form', {
        ...(await formLocals(service)),
        title: 'Add endpoint',
        endpoint: null,
        values,
        errors: plainErrors(err, ENDPOINT_LABELS),
        needsConfirm: err.flags.needsConfirm === true,
      });
    }
  });

  r.get('/endpoints/:id', async (req, res) => {
    await renderEndpoint(service, res, idOf(req), 200);
  });

  r.post('/endpoints/:id', async (req, res) => {
    const id = idOf(req);
    const body = req.body as Record<string, unknown>;
    const values = endpointValues(body);
    try {
      const patch = check<EndpointInput>(
        schemas.endpointCreate,
        toEndpointInput(values, await service.getEndpoint(id)),
      );
      const { resumed } = await service.updateEndpoint(id, patch, { resumePaused: body.resume_paused === 'on' });
      res.redirect(303, `/admin/endpoints/${id}?notice=${resumed > 0 ? 'resumed' : 'endpoint-saved'}`);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      await renderEndpoint(
        service,
        res,
        id,
        400,
        values,
        plainErrors(err, ENDPOINT_LABELS),
        err.flags.needsConfirm === true,
      );
    }
  });

  endpointActions(r, deps);
  return r;
}

/** The forms on one endpoint's page: rotate, test, replay failed, backfill, delete. */
function endpointActions(r: Router, deps: AdminDeps): void {
  const { service } = deps;
  r.post('/endpoints/:id/rotate', async (req, res) => {
    const id = idOf(req);
    const body = req.body as Record<string, unknown>;
    if (body.confirm !== 'on') {
      return renderEndpoint(service, res, id, 400, undefined, {
        rotate_confirm: 'Tick the box to rotate: receivers must be given the new secret before the grace period ends.',
      });
    }
    let grace: number;
    try {
      ({ grace_hours: grace } = check<{ grace_hours: number }>(schemas.rotateSecret, {
        grace_hours: asText(body.grace_hours),
      }));
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return renderEndpoint(service, res, id, 400, undefined, {
        grace_hours: 'Choose how long the previous secret keeps working.',
      });
    }
    const e = await service.rotateSecret(id, { grace_hours: grace });
    // The new secret is shown once, right away, on this answer (not carried through a redirect).
    res.locals.notice = {
      kind: 'success',
      text:
        grace > 0
          ? 'Secret rotated. Give the new secret below to your receivers: until the grace period ends they may check it in X-Webhook-Signature-Next, while X-Webhook-Signature stays signed with the previous one.'
          : 'Secret rotated with no grace period: from now on every request is signed with the new secret below only.',
    };
    await renderEndpoint(service, res, id, 200, undefined, {}, false, e.secret);
  });

  r.post('/endpoints/:id/test', async (req, res) => {
    const id = idOf(req);
    await service.sendTestEvent(id);
    res.redirect(303, `/admin/endpoints/${id}?notice=test-sent`);
  });

  r.post('/endpoints/:id/replay-failed', async (req, res) => {
    const id = idOf(req);
    const raw = asText((req.body as Record<string, unknown>).since);
    let since: Date;
    try {
      ({ since } = check<{ since: Date }>(schemas.replayFailed, { since: localToIso(raw) }));
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      res.locals.typed = { since: raw };
      return renderEndpoint(service, res, id, 400, undefined, {
        since: `Replay failed deliveries since: type a date and time as ${DATE_EXAMPLE} (UTC).`,
      });
    }
    try {
      const n = await service.replayFailedSince(id, since);
      res.redirect(
        303,
        `/admin/endpoints/${id}?${n === 0 ? 'notice=replayed-none' : n === 1 ? 'notice=replayed-one' : `notice=replayed-many&count=${n}`}`,
      );
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      res.locals.typed = { since: raw };
      await renderEndpoint(service, res, id, 400, undefined, {
        since: plainSentence(err, { since: 'Replay failed deliveries since' }),
      });
    }
  });

  r.post('/endpoints/:id/backfill', async (req, res) => {
    const id = idOf(req);
    const body = req.body as Record<string, unknown>;
    const untilRaw = asText(body.until);
    try {
      const input = check<{ since: Date; until?: Date }>(schemas.backfill, {
        since: localToIso(asText(body.since)),
        ...(untilRaw ? { until: localToIso(untilRaw) } : {}),
      });
      const { queued, note } = await service.backfill(id, input);
      res.locals.notice = {
        kind: queued > 0 ? 'success' : 'info',
        text: `Backfill: ${queued} event${queued === 1 ? '' : 's'} queued for this endpoint, with their original ids.${note ? ` Note: ${note}.` : ''}`,
      };
      await renderEndpoint(service, res, id, 202);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      res.locals.typed = { backfillSince: asText(body.since), backfillUntil: untilRaw };
      const errors = plainErrors(err, { since: 'Backfill from', until: 'Backfill until' });
      await renderEndpoint(service, res, id, 400, undefined, {
        ...(errors.since ? { backfill_since: errors.since } : {}),
        ...(errors.until ? { backfill_until: errors.until } : {}),
        ...(!errors.since && !errors.until ? { backfill_since: Object.values(errors).join(' ') } : {}),
      });
    }
  });

  r.post('/endpoints/:id/delete', async (req, res) => {
    const id = idOf(req);
    // Deleting takes the whole history with it, so it asks twice (no JavaScript confirm needed).
    if ((req.body as Record<string, unknown>).confirm !== 'on') {
      return renderEndpoint(service, res, id, 400, undefined, {
        delete_confirm: 'Tick the box to confirm: this deletes the endpoint with all its deliveries.',
      });
    }
    await service.deleteEndpoint(id);
    res.redirect(303, '/admin/endpoints?notice=endpoint-deleted');
  });
}

/** The endpoint page: its form, secret, test and replay, recent deliveries. */
async function renderEndpoint(
  service: Service,
  res: Response,
  id: number,
  status: number,
  values?: EndpointValues,
  errors: Record<string, string> = {},
  needsConfirm = false,
  newSecret: string | null = null,
) {
  const endpoint = await service.getEndpoint(id);
  const [recent, paused, settings, week, health] = await Promise.all([
    service.listDeliveries({ endpointId: id, limit: 20 }),
    service.listDeliveries({ endpointId: id, status: 'paused', limit: 1 }),
    service.getSettings(),
    service.endpointStats(id, 7),
    service.endpointHealth(id),
  ]);
  // The receiver's own words, first line: for the health's last error and each recent delivery.
  const bodies = await service.lastResponseLines([
    ...new Set([...recent.map((d) => d.id), ...(health.lastProblem ? [health.lastProblem.deliveryId] : [])]),
  ]);
  const attempts = week.buckets.reduce((a, b) => a + b.attempts, 0);
  const successes = week.buckets.reduce((a, b) => a + b.successes, 0);
  const known = new Set(
    catalogChoices()
      .flatMap((g) => [...g.types, ...(g.wildcard ? [g.wildcard] : [])])
      .concat('*'),
  );
  res.status(status).render('endpoint-form', {
    ...(await formLocals(service)),
    title: endpoint.description || endpoint.url,
    endpoint,
    maskedSecret: maskSecret(endpoint.secret),
    recent,
    bodies,
    hasPaused: paused.length > 0,
    stats: {
      chart: attemptsChart(week.buckets, week.unit),
      attempts,
      successes,
      rate: attempts ? successes / attempts : null,
    },
    health,
    values: values ?? {
      url: endpoint.url,
      description: endpoint.description,
      events: endpoint.events.filter((e) => known.has(e)),
      other: endpoint.events.filter((e) => !known.has(e)).join(', '),
      enabled: endpoint.enabled,
      ordered: endpoint.ordered,
      confirm: false,
      ...optionValues(endpoint),
    },
    errors,
    needsConfirm,
    newSecret,
    graceDefault: settings.rotation_grace_hours,
    httpsOnly: settings.https_only,
    defaultSince: toField(new Date(Date.now() - 24 * 3600_000)),
  });
}

// ---- pure helpers ----

interface EndpointValues {
  url: string;
  description: string;
  events: string[];
  other: string;
  enabled: boolean;
  ordered: boolean;
  confirm: boolean;
  /** The options as typed: JSON, "Name: value" lines, numbers and lists as text. */
  filter: string;
  headers: string;
  authType: string;
  authUsername: string;
  /** A password or token typed now; never shown again (blank keeps the saved one). */
  authSecret: string;
  rate: string;
  timeout: string;
  retries: string;
  signing: string;
}

/** The form's text for an endpoint's saved options. */
function optionValues(e: Endpoint | null) {
  return {
    filter: e?.filter ? JSON.stringify(e.filter, null, 2) : '',
    headers: e?.headers
      ? Object.entries(e.headers)
          .map(([k, v]) => `${k}: ${v}`)
          .join('\n')
      : '',
    authType: e?.auth?.type ?? 'none',
    authUsername: e?.auth?.type === 'basic' ? e.auth.username : '',
    authSecret: '',
    rate: e?.rateLimitPerSecond == null ? '' : String(e.rateLimitPerSecond),
    timeout: e?.timeoutSeconds == null ? '' : String(e.timeoutSeconds),
    retries: e?.retryScheduleSeconds ? e.retryScheduleSeconds.join(', ') : '',
    signing: e?.signing ?? 'hmac',
  };
}

function endpointValues(body: Record<string, unknown>): EndpointValues {
  const ev = body.events;
  const events = (Array.isArray(ev) ? ev : ev === undefined ? [] : [ev]).map(String);
  return {
    url: asText(body.url).trim(),
    description: asText(body.description),
    events,
    other: asText(body.events_other),
    enabled: body.enabled === 'on',
    ordered: body.ordered === 'on',
    confirm: body.confirm === 'on',
    filter: asText(body.filter).trim(),
    headers: asText(body.headers),
    authType: asText(body.auth_type, 'none'),
    authUsername: asText(body.auth_username),
    authSecret: asText(body.auth_secret),
    rate: asText(body.rate_limit_per_second).trim(),
    timeout: asText(body.timeout_seconds).trim(),
    retries: asText(body.retry_schedule_seconds).trim(),
    signing: asText(body.signing, 'hmac'),
  };
}

const numberOrNull = (s: string): number | string | null =>
  s === '' ? null : Number.isFinite(Number(s)) ? Number(s) : s;

/**
 * The typed options as the API takes them; joi checks the result. A blank
 * password or token keeps the saved one when the auth type is unchanged.
 */
function optionsInput(v: EndpointValues, saved: Endpoint | null): Record<string, unknown> {
  let filter: unknown = null;
  if (v.filter !== '') {
    try {
      filter = JSON.parse(v.filter);
    } catch (err) {
      throw new ValidationError(`filter is not valid JSON: ${(err as Error).message}`, 'filter');
    }
  }
  let headers: Record<string, string> | null = null;
  for (const [i, line] of v.headers.split(/\r?\n/).entries()) {
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    if (colon < 1) throw new ValidationError(`headers: line ${i + 1} has no "Name: value"`, 'headers');
    headers = { ...(headers ?? {}), [line.slice(0, colon).trim()]: line.slice(colon + 1).trim() };
  }
  let auth: unknown = null;
  if (v.authType === 'basic' || v.authType === 'bearer') {
    const kept =
      saved?.auth?.type === v.authType ? (saved.auth.type === 'basic' ? saved.auth.password : saved.auth.token) : '';
    const secret = v.authSecret !== '' ? v.authSecret : kept;
    auth =
      v.authType === 'basic'
        ? { type: 'basic', username: v.authUsername, password: secret }
        : { type: 'bearer', token: secret };
  }
  return {
    filter,
    headers,
    auth,
    rate_limit_per_second: numberOrNull(v.rate),
    timeout_seconds: numberOrNull(v.timeout),
    retry_schedule_seconds:
      v.retries === ''
        ? null
        : v.retries
            .split(/[\s,]+/)
            .filter(Boolean)
            .map((x) => numberOrNull(x)),
    signing: v.signing,
  };
}

/**
 * Entries of the "other types" box are separated by commas or new lines, not
 * spaces: "enrollment created" stays one entry and is refused as not an
 * event type, instead of becoming two subscriptions that match nothing.
 */
function toEndpointInput(v: EndpointValues, saved: Endpoint | null = null) {
  const other = v.other
    .split(/[,\r\n]+/)
    .map((x) => x.trim())
    .filter(Boolean);
  return {
    url: v.url,
    description: v.description,
    events: [...new Set([...v.events, ...other])],
    enabled: v.enabled,
    ordered: v.ordered,
    ...optionsInput(v, saved),
    ...(v.confirm ? { confirm: true } : {}),
  };
}

/** The catalog as the form offers it: each group with its wildcard when all its types share a prefix (order.*). */
export function catalogChoices(): { name: string; wildcard: string | null; types: readonly string[] }[] {
  return Object.entries(EVENT_CATALOG).map(([name, types]) => {
    const prefix = types[0]!.split('.')[0]!;
    return { name, wildcard: types.every((x) => x.startsWith(`${prefix}.`)) ? `${prefix}.*` : null, types };
  });
}

async function formLocals(service: Service) {
  return {
    catalog: catalogChoices(),
    describe: describeSubscription,
    describeFilter,
    descriptions: EVENT_DESCRIPTIONS,
    orderingAvailable: await service.orderingAvailable(),
  };
}
