/**
 * joi schemas for everything operators send: API bodies, form fields and
 * query strings share these, so a rule is written once. Unknown fields are
 * refused with their name rather than ignored.
 */
import Joi from 'joi';
import { EVENT_PATTERN_RE } from '../delivery/subscriptions.js';
import { DELIVERY_STATUSES, ENDPOINT_TYPES, FILTER_OPS, type DeliveryStatus, type EndpointTls } from '../types.js';
import { tlsProblem } from '../delivery/tlsMaterial.js';
import { checkTemplate, MAX_TEMPLATE_CHARS } from '../delivery/chat.js';
import { MAX_TRANSFORMATION_CHARS } from '../delivery/transform.js';
import { FILTER_PATH_RE, valueProblem } from '../delivery/filters.js';
import { ValidationError } from '../errors.js';
import type { EndpointInput } from './endpointOps.js';
import { API_KEY_SCOPES, POLL_SCOPE_RE } from './apiKeyOps.js';

const eventPattern = Joi.string().max(191).pattern(EVENT_PATTERN_RE).messages({
  'string.pattern.base':
    '{{#label}} must be an event type such as enrollment.created, a wildcard such as enrollment.*, or *',
});

const events = Joi.array().items(eventPattern).min(1).max(100).unique();
/**
 * A URL with non-ASCII characters (https://bücher.example/) in its ASCII form:
 * the WHATWG parser turns the host into punycode (what node:url's
 * domainToASCII gives) and percent-encodes the rest, so the URI rule, the
 * stored value and the receiver's TLS name all see one spelling.
 */
function asciiUrl(value: string): string {
  if (/^[\x21-\x7e]*$/.test(value)) return value;
  try {
    return new URL(value).href;
  } catch {
    return value; // the uri rule names what is wrong
  }
}

const url = Joi.string()
  .trim()
  .max(2048)
  .custom(asciiUrl)
  .uri({ scheme: ['http', 'https'] })
  .messages({
    'string.uriCustomScheme': '{{#label}} must be an http:// or https:// URL',
    'string.uri': '{{#label}} must be an absolute http:// or https:// URL',
  });
const description = Joi.string().trim().max(500).allow('');
const customSecret = Joi.string()
  .min(16)
  .max(255)
  .pattern(/^[\x21-\x7e]+$/)
  .messages({ 'string.pattern.base': '{{#label}} may contain only printable ASCII without spaces' });

const filterCondition = Joi.object({
  path: Joi.string().max(200).pattern(FILTER_PATH_RE).required().messages({
    'string.pattern.base': '{{#label}} must be a dot-separated path into the envelope, such as data.course_id',
  }),
  op: Joi.string()
    .valid(...FILTER_OPS)
    .required()
    .messages({ 'any.only': `{{#label}} must be one of ${FILTER_OPS.join(', ')}` }),
  value: Joi.any(),
}).custom((c: { op: string; value?: unknown }, helpers) => {
  const problem = valueProblem(c);
  return problem ? helpers.message({ custom: `{{#label}}: ${c.op} ${problem}` }) : c;
});
const conditions = Joi.array().items(filterCondition).min(1).max(20);
const filter = Joi.object({ all: conditions, any: conditions }).xor('all', 'any').allow(null).messages({
  'object.xor': '{{#label}} takes either "all" or "any", not both',
  'object.missing': '{{#label}} must have "all" or "any": a list of conditions',
});

/**
 * Headers the sidecar sets, that HTTP itself owns, or that go through their
 * own field (authorization: `auth`, so it is masked). Prefixes end in '-'.
 */
const OWNED_HEADERS = [
  'host',
  'connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'keep-alive',
  'expect',
  'user-agent',
  'authorization',
  'content-',
  'proxy-',
  'webhook-',
  'x-webhook-',
];
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;
const headers = Joi.object()
  .pattern(Joi.string(), Joi.string().allow('').max(2000))
  .max(20)
  .allow(null)
  .custom((h: Record<string, string> | null, helpers) => {
    for (const [name, value] of Object.entries(h ?? {})) {
      const lower = name.toLowerCase();
      if (!HEADER_NAME.test(name))
        return helpers.message({ custom: `{{#label}}: ${JSON.stringify(name)} is not a valid header name` });
      if (OWNED_HEADERS.some((o) => (o.endsWith('-') ? lower.startsWith(o) : lower === o))) {
        return helpers.message({
          custom: `{{#label}}: ${name} is set by the sidecar or owned by HTTP and cannot be given${lower === 'authorization' ? '; use auth, which is masked when read back' : ''}`,
        });
      }
      // Printable ASCII and tab only: Node refuses CR/LF, and Latin-1 would reach receivers garbled.
      if (!/^[\t\x20-\x7e]*$/.test(value))
        return helpers.message({ custom: `{{#label}}: the value of ${name} may contain only printable ASCII` });
    }
    return h;
  });
const auth = Joi.alternatives()
  .try(
    Joi.object({
      type: Joi.string().valid('basic').required(),
      username: Joi.string()
        .min(1)
        .max(200)
        .pattern(/^[\x20-\x39\x3b-\x7e]+$/)
        .required()
        .messages({ 'string.pattern.base': '{{#label}} may contain printable ASCII but no colon' }),
      password: Joi.string()
        .allow('')
        .max(500)
        .pattern(/^[\x20-\x7e]*$/)
        .required()
        .messages({ 'string.pattern.base': '{{#label}} may contain only printable ASCII' }),
    }),
    Joi.object({
      type: Joi.string().valid('bearer').required(),
      token: Joi.string()
        .min(1)
        .max(2000)
        .pattern(/^[\x21-\x7e]+$/)
        .required()
        .messages({ 'string.pattern.base': '{{#label}} may contain only printable ASCII without spaces' }),
    }),
  )
  .allow(null)
  .messages({
    'alternatives.match':
      '{{#label}} must be null or an object with type "basic" (and username, password) or "bearer" (and token)',
  });
const PEM_MAX = 20_000;
/** Mutual TLS: PEM texts, checked together (the key must be the certificate's). */
const tls = Joi.object({
  client_cert: Joi.string().max(PEM_MAX),
  client_key: Joi.string().max(PEM_MAX),
  ca: Joi.string()
    .max(PEM_MAX * 5)
    .allow(null),
})
  .and('client_cert', 'client_key')
  .or('client_cert', 'ca')
  .allow(null)
  .custom((t: EndpointTls | null, helpers) => {
    const problem = t && tlsProblem(t);
    return problem ? helpers.message({ custom: `{{#label}}.${problem}` }) : t;
  });

const retrySchedule = Joi.array()
  .items(
    Joi.number()
      .integer()
      .min(1)
      .max(7 * 86400),
  )
  .max(20);

/** A chat endpoint's templates: event type → Mustache template, each checked as it is saved. */
const templates = Joi.object()
  .pattern(Joi.string().max(191).pattern(EVENT_PATTERN_RE), Joi.string().max(MAX_TEMPLATE_CHARS))
  .max(200)
  .allow(null);

/** The endpoint options beyond the basics (DESIGN "Endpoint options"). */
const endpointOptions = {
  type: Joi.string().valid(...ENDPOINT_TYPES),
  templates,
  /** Compiled in the sandbox when saved (endpointOps); here only its size. */
  transformation: Joi.string().max(MAX_TRANSFORMATION_CHARS).allow(null),
  ordered: Joi.boolean(),
  filter,
  headers,
  auth,
  rate_limit_per_second: Joi.number().min(0.01).max(10000).allow(null),
  timeout_seconds: Joi.number().min(1).max(120).allow(null),
  retry_schedule_seconds: retrySchedule.allow(null),
  signing: Joi.string().valid('hmac', 'ed25519'),
  tls,
};

export const endpointCreate = Joi.object({
  // A polling endpoint is pulled by its receiver: it has no URL to send to.
  url: url.when('type', {
    is: 'polling',
    then: Joi.forbidden().messages({
      'any.unknown': '{{#label}} is not used by a polling endpoint: its receiver polls GET /api/poll/:id',
    }),
    otherwise: Joi.required(),
  }),
  events: events.required(),
  description: description.default(''),
  enabled: Joi.boolean().default(true),
  secret: customSecret,
  ...endpointOptions,
  /** Subscribe even to types neither in the catalog nor seen yet (the LMS will send them later). */
  confirm: Joi.boolean(),
});

export const endpointPatch = Joi.object({
  url,
  events,
  description,
  enabled: Joi.boolean(),
  ...endpointOptions,
  confirm: Joi.boolean(),
}).min(1);

/** Endpoint fields whose wire name (snake_case, as in DESIGN) differs from the code's. */
const ENDPOINT_FIELD_NAMES: Readonly<Record<string, keyof EndpointInput>> = {
  rate_limit_per_second: 'rateLimitPerSecond',
  timeout_seconds: 'timeoutSeconds',
  retry_schedule_seconds: 'retryScheduleSeconds',
};

/** A body checked by endpointCreate, with its fields named as the code names them. */
export function checkEndpointCreate(body: unknown): EndpointInput {
  return endpointFromWire(check<Record<string, unknown>>(endpointCreate, body)) as EndpointInput;
}

/** A body checked by endpointPatch, with its fields named as the code names them. */
export function checkEndpointPatch(body: unknown): Partial<EndpointInput> {
  return endpointFromWire(check<Record<string, unknown>>(endpointPatch, body));
}

function endpointFromWire(wire: Record<string, unknown>): Partial<EndpointInput> {
  // Checked here rather than in joi: its messages would read a template's {{…}} as their own placeholders.
  for (const [type, template] of Object.entries((wire.templates ?? {}) as Record<string, string>))
    checkTemplate(template, `templates.${type}`);
  return Object.fromEntries(Object.entries(wire).map(([k, v]) => [ENDPOINT_FIELD_NAMES[k] ?? k, v]));
}

/** POST /api/hooks: Zapier's subscribe, with the Zap's target URL and the event it wants. */
export const hookSubscribe = Joi.object({
  target_url: url.required(),
  event: eventPattern.required(),
});

export const hookSamplesQuery = Joi.object({
  event: eventPattern.required(),
});

/** GET /api/poll/:id: the cursor a poller got last (0: from the start) and a page size. */
export const pollQuery = Joi.object({
  after: Joi.number().integer().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  limit: Joi.number().integer().min(1).max(500).default(100),
});

export const apiKeyCreate = Joi.object({
  name: Joi.string().trim().min(1).max(100).required(),
  scope: Joi.alternatives()
    .try(Joi.string().valid(...API_KEY_SCOPES), Joi.string().pattern(POLL_SCOPE_RE))
    .required()
    .messages({ 'alternatives.match': '{{#label}} must be full, hooks, or poll:<polling endpoint id>' }),
});

export const statsQuery = Joi.object({
  days: Joi.number().integer().min(1).max(90).default(7),
});

export const backfill = Joi.object({
  since: Joi.date().iso().required(),
  until: Joi.date().iso().greater(Joi.ref('since')),
  events: Joi.array().items(eventPattern).min(1).max(100).unique(),
});

export const rotateSecret = Joi.object({
  secret: customSecret,
  grace_hours: Joi.number().min(0).max(168),
});

export const replayFailed = Joi.object({
  since: Joi.date().iso().required(),
});

export const settingsPatch = Joi.object({
  retry_schedule_seconds: retrySchedule,
  retry_jitter_ratio: Joi.number().min(0).max(0.5),
  retry_after_cap_seconds: Joi.number()
    .integer()
    .min(0)
    .max(7 * 86400),
  timeout_seconds: Joi.number().min(1).max(120),
  max_in_flight_per_endpoint: Joi.number().integer().min(1).max(256),
  max_payload_bytes: Joi.number()
    .integer()
    .min(1024)
    .max(16 * 1024 * 1024),
  response_body_max_bytes: Joi.number()
    .integer()
    .min(0)
    .max(64 * 1024),
  auto_disable_after_hours: Joi.number()
    .min(1)
    .max(24 * 365),
  rotation_grace_hours: Joi.number().min(0).max(168),
  retention_days: Joi.number().integer().min(1).max(3650),
  https_only: Joi.boolean(),
  max_deliveries_per_second: Joi.number().min(0).max(100_000),
  erase_after_student_deleted_days: Joi.number().integer().min(0).max(3650).allow(null),
  /** Saves a change that switches delivery off for someone (no retries, blocked http:// endpoints). */
  confirm: Joi.boolean(),
}).min(1);

const DATA_PARAM_RE = /^data\.[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)?$/;

/** A delivery log query as deliveryQuery leaves it (the payload conditions are read apart, by dataConditions). */
// A type, not an interface: the routes also read it as a Record of its fields.
export type DeliveryQuery = {
  endpoint_id?: number;
  status?: DeliveryStatus;
  event_type?: string;
  event_id?: string;
  since?: Date;
  until?: Date;
  before?: number;
  limit: number;
};

export const deliveryQuery = Joi.object({
  endpoint_id: Joi.number().integer().min(1),
  status: Joi.string().valid(...DELIVERY_STATUSES),
  event_type: eventPattern,
  event_id: Joi.string().max(64),
  since: Joi.date().iso(),
  until: Joi.date().iso(),
  before: Joi.number().integer().min(1),
  limit: Joi.number().integer().min(1).max(200).default(50),
})
  // Payload conditions: data.<field> or data.<field>.<field> = an exact value.
  .pattern(DATA_PARAM_RE, Joi.string().min(1).max(191))
  .messages({
    'object.unknown':
      '{{#label}} is not a filter; payload filters look like data.student_id=student_42 (one or two levels into data)',
  });

/** POST /api/erasure: payload conditions as the log search takes them (values compared exactly, as text). */
export const erasureRequest = Joi.object({
  where: Joi.object()
    .pattern(DATA_PARAM_RE, Joi.alternatives(Joi.string().min(1).max(191), Joi.number()).required())
    .min(1)
    .max(5)
    .required()
    .messages({
      'object.unknown':
        '{{#label}} is not a payload condition; a condition is a path one or two levels into data with its exact value, such as "data.student_id": "student_42"',
      'object.min': '{{#label}} needs at least one condition, such as "data.student_id": "student_42"',
    }),
  pending: Joi.string().valid('send', 'cancel').required().messages({
    'any.required':
      '{{#label}} is required: "send" sends the matched events\' deliveries that are not sent yet first, "cancel" cancels them',
  }),
  confirm: Joi.boolean(),
});

/** The payload conditions of a validated delivery query. */
export function dataConditions(q: Record<string, unknown>): [string, string][] {
  return Object.entries(q)
    .filter(([k]) => DATA_PARAM_RE.test(k))
    .map(([k, v]) => [k, String(v)]);
}

const idParam = Joi.number().integer().min(1).max(Number.MAX_SAFE_INTEGER).required().label('id');

/** Validates and converts, or throws a ValidationError naming every bad field. */
export function check<T>(schema: Joi.Schema, input: unknown, what = 'body'): T {
  if (input === undefined || input === null || typeof input !== 'object' || Array.isArray(input)) {
    if (schema.type === 'object') throw new ValidationError(`${what} must be a JSON object`, what);
  }
  const result: Joi.ValidationResult<unknown> = schema.validate(input, {
    abortEarly: false,
    convert: true,
    errors: { wrap: { label: false } },
  });
  if (result.error) {
    const details = result.error.details.map((d) => ({
      field: d.path.join('.') || what,
      message: d.message,
      type: d.type,
      context: {
        limit: d.context?.limit as unknown,
        value: d.context?.value as unknown,
        valids: d.context?.valids as unknown[] | undefined,
      },
    }));
    throw new ValidationError(details.map((d) => d.message).join('; '), details[0]?.field, details);
  }
  return result.value as T;
}

/** A numeric id from a route parameter, or a ValidationError naming `id`. */
export function parseId(raw: unknown): number {
  return check<number>(idParam, raw, 'id');
}
