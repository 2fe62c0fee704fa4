/**
 * The endpoint form's fields: what they show for a saved endpoint, and what
 * an operator typed turned into the API's wire shape (validated by the same
 * schema as the API). Pure.
 */
import type { Endpoint } from '../../types.js';
import { EVENT_CATALOG } from '../../catalog.js';
import { ValidationError } from '../../errors.js';
import { asText } from '../../text.js';

/** The endpoint form's labels, as its messages name the fields. */
export const ENDPOINT_LABELS = {
  url: 'Endpoint URL',
  description: 'Description',
  events: 'Events to send',
  enabled: 'Enabled',
  ordered: 'Ordered per key',
  filter: 'Filter',
  headers: 'Extra headers',
  auth: 'Authorization',
  tls: 'Client certificate',
  rate_limit_per_second: 'Rate limit',
  timeout_seconds: 'Request timeout',
  retry_schedule_seconds: 'Retry schedule',
  signing: 'Standard Webhooks signature',
  type: 'Sends',
  templates: 'Message templates',
  body: 'The form',
};

export interface EndpointValues {
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
  /** Client certificate, key and CA typed now (PEM); blank keeps the saved ones. */
  tlsCert: string;
  tlsKey: string;
  tlsCa: string;
  tlsRemove: boolean;
  rate: string;
  timeout: string;
  retries: string;
  signing: string;
  /** webhook, or the chat provider whose message the endpoint gets. */
  type: string;
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
    tlsCert: '',
    tlsKey: '',
    tlsCa: '',
    tlsRemove: false,
    rate: e?.rateLimitPerSecond == null ? '' : String(e.rateLimitPerSecond),
    timeout: e?.timeoutSeconds == null ? '' : String(e.timeoutSeconds),
    retries: e?.retryScheduleSeconds ? e.retryScheduleSeconds.join(', ') : '',
    signing: e?.signing ?? 'hmac',
    type: e?.type ?? 'webhook',
  };
}

export function endpointValues(body: Record<string, unknown>): EndpointValues {
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
    tlsCert: asText(body.tls_client_cert).trim(),
    tlsKey: asText(body.tls_client_key).trim(),
    tlsCa: asText(body.tls_ca).trim(),
    tlsRemove: body.tls_remove === 'on',
    rate: asText(body.rate_limit_per_second).trim(),
    timeout: asText(body.timeout_seconds).trim(),
    retries: asText(body.retry_schedule_seconds).trim(),
    signing: asText(body.signing, 'hmac'),
    type: asText(body.type, 'webhook'),
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
  // Blank boxes keep what is saved; a box filled replaces its part.
  let tls: unknown = saved?.tls ?? null;
  if (v.tlsRemove) tls = null;
  else if (v.tlsCert || v.tlsKey || v.tlsCa)
    tls = {
      client_cert: v.tlsCert || saved?.tls?.client_cert || undefined,
      client_key: v.tlsKey || saved?.tls?.client_key || undefined,
      ca: v.tlsCa || saved?.tls?.ca || null,
    };
  return {
    filter,
    headers,
    auth,
    tls,
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
    // A REST hook stays one: its type is Zapier's, not the form's to change.
    ...(v.type === 'zapier' ? {} : { type: v.type }),
  };
}

/**
 * Entries of the "other types" box are separated by commas or new lines, not
 * spaces: "enrollment created" stays one entry and is refused as not an
 * event type, instead of becoming two subscriptions that match nothing.
 */
export function toEndpointInput(v: EndpointValues, saved: Endpoint | null = null) {
  const other = v.other
    .split(/[,\r\n]+/)
    .map((x) => x.trim())
    .filter(Boolean);
  return {
    // A polling endpoint has no URL: whatever the box holds is not sent.
    ...(v.type === 'polling' ? {} : { url: v.url }),
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

/** The form's values for a new endpoint. */
export function blankValues(): EndpointValues {
  return {
    url: '',
    description: '',
    events: [],
    other: '',
    enabled: true,
    ordered: false,
    confirm: false,
    ...optionValues(null),
  };
}

/** The form's values for a saved endpoint: catalog types and wildcards ticked, the rest in the "other types" box. */
export function savedValues(endpoint: Endpoint): EndpointValues {
  const known = new Set(
    catalogChoices()
      .flatMap((g) => [...g.types, ...(g.wildcard ? [g.wildcard] : [])])
      .concat('*'),
  );
  return {
    url: endpoint.url,
    description: endpoint.description,
    events: endpoint.events.filter((e) => known.has(e)),
    other: endpoint.events.filter((e) => !known.has(e)).join(', '),
    enabled: endpoint.enabled,
    ordered: endpoint.ordered,
    confirm: false,
    ...optionValues(endpoint),
  };
}
