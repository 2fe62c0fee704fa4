/**
 * GET /api/openapi.json: an OpenAPI 3.1 document of every /api route. The
 * request schemas are the joi schemas the routes validate with, converted by
 * joi-to-json (so the document cannot drift from what is accepted); the
 * response schemas are written here beside the presenters (apiPresent.ts). A
 * test walks the express router and fails when a route is missing here.
 */
import joiToJson from 'joi-to-json';
import type Joi from 'joi';
import * as schemas from '../manage/schemas.js';
import { DELIVERY_STATUSES, ENDPOINT_TYPES } from '../types.js';
import { CATALOG } from '../catalog.js';

type Json = Record<string, unknown>;

// A CommonJS module whose typings declare an ES default: at run time the default import is the function itself.
const parse = joiToJson as unknown as (schema: Joi.Schema, mode: 'open-api-3.1') => Json;
const toSchema = (s: Joi.Schema): Json => parse(s, 'open-api-3.1');

/** A joi object schema's keys as query parameters. */
function queryParameters(s: Joi.Schema): Json[] {
  const js = toSchema(s) as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, schema]) => ({
    name,
    in: 'query',
    required: js.required?.includes(name) ?? false,
    schema,
  }));
}

const nullable = (type: string, extra: Json = {}): Json => ({ type: [type, 'null'], ...extra });
const time = nullable('string', { format: 'date-time' });
const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json, description: string): Json => ({
  description,
  content: { 'application/json': { schema } },
});
const error = (description: string): Json => json(ref('Error'), description);
/** A list answer: `{"data": [item…]}` and, for a page, what comes beside it (next_cursor…). */
const listOf = (items: Json, beside: Record<string, Json> = {}): Json => ({
  type: 'object',
  properties: { data: { type: 'array', items }, ...beside },
});
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } };

const Endpoint: Json = {
  type: 'object',
  required: ['id', 'url', 'events', 'enabled', 'secret'],
  properties: {
    id: { type: 'integer' },
    type: {
      type: 'string',
      enum: [...ENDPOINT_TYPES, 'zapier'],
      description: 'webhook: the signed envelope; slack, discord, teams: a message rendered from templates',
    },
    url: { type: 'string', format: 'uri' },
    description: { type: 'string' },
    events: { type: 'array', items: { type: 'string' } },
    enabled: { type: 'boolean' },
    secret: { type: 'string', description: 'masked, except in the answers that create or rotate it' },
    previous_secret_expires_at: time,
    disabled_reason: nullable('string'),
    disabled_at: time,
    failing_since: time,
    last_success_at: time,
    transformation_failures: { type: 'integer', description: 'runs of its transformation in a row that failed' },
    transformation_retry_at: {
      ...time,
      description: 'set while its deliveries wait because its transformation failed 5 runs in a row',
    },
    ordered: { type: 'boolean' },
    filter: nullable('object'),
    headers: nullable('object', { additionalProperties: { type: 'string' } }),
    auth: nullable('object', { description: 'password or token masked' }),
    rate_limit_per_second: nullable('number'),
    timeout_seconds: nullable('number'),
    retry_schedule_seconds: nullable('array', { items: { type: 'integer' } }),
    signing: { type: 'string', enum: ['hmac', 'ed25519'] },
    public_key: nullable('string', { description: 'whpk_ + base64 of the raw Ed25519 public key' }),
    tls: {
      type: ['object', 'null'],
      description:
        'mutual TLS: the client certificate and CA described (subject, issuer, expiry, fingerprint), the key masked',
      properties: { client_cert: nullable('string'), client_key: nullable('string'), ca: nullable('string') },
    },
    transformation: nullable('string', {
      description: 'function handler(webhook) run in a sandbox over each request before it is signed and sent',
    }),
    api_key_id: nullable('integer', { description: 'the API key that made it (a REST hook), else null' }),
    templates: nullable('object', {
      additionalProperties: { type: 'string' },
      description: "a chat endpoint's own Mustache templates by event type; the defaults fill the rest",
    }),
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
  },
};

const Delivery: Json = {
  type: 'object',
  required: ['id', 'endpoint_id', 'event_id', 'event_type', 'status', 'attempts'],
  properties: {
    id: { type: 'integer' },
    endpoint_id: { type: 'integer' },
    event_id: { type: 'string' },
    event_type: { type: 'string' },
    status: { type: 'string', enum: [...DELIVERY_STATUSES] },
    ordering_key: nullable('string'),
    waiting_for: nullable('integer', { description: 'for a waiting delivery: the delivery at the head of its key' }),
    attempts: { type: 'integer' },
    next_attempt_at: time,
    last_attempt_at: time,
    last_status_code: nullable('integer'),
    last_error: nullable('string'),
    created_at: { type: 'string', format: 'date-time' },
    completed_at: time,
  },
};

const Attempt: Json = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    attempt: { type: 'integer' },
    started_by: nullable('string', { enum: ['first', 'retry', 'replay', null] }),
    started_at: { type: 'string', format: 'date-time' },
    duration_ms: { type: 'integer' },
    outcome: { type: 'string', enum: ['success', 'failure'] },
    status_code: nullable('integer'),
    error_class: nullable('string'),
    error_message: nullable('string'),
    request: { type: 'object', properties: { url: { type: 'string' }, headers: { type: 'object' } } },
    response: nullable('object'),
    worker: { type: 'string' },
  },
};

const ErrorSchema: Json = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        field: { type: 'string' },
        details: { type: 'array' },
      },
    },
  },
};

const Stats: Json = {
  type: 'object',
  properties: {
    endpoint_id: { type: 'integer' },
    days: { type: 'integer' },
    unit: { type: 'string', enum: ['hour', 'day'] },
    data: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          start: { type: 'string', format: 'date-time' },
          attempts: { type: 'integer' },
          successes: { type: 'integer' },
          failures: { type: 'integer' },
          p50_ms: nullable('integer'),
          p95_ms: nullable('integer'),
        },
      },
    },
  },
};

const countsSchema: Json = {
  type: 'object',
  description: 'rows changed per table',
  properties: Object.fromEntries(
    ['events', 'event_terms', 'outbox', 'attempts', 'deliveries_cancelled'].map((k) => [k, { type: 'integer' }]),
  ),
};
const Erasure: Json = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    status: { type: 'string', enum: ['waiting', 'done'] },
    pending: { type: 'string', enum: ['send', 'cancel'] },
    paths: { type: 'array', items: { type: 'string' }, description: "the condition's paths; its values are not kept" },
    requested_by: { type: 'string' },
    created_at: { type: 'string', format: 'date-time' },
    completed_at: nullable('string'),
    counts: countsSchema,
  },
};

function op(summary: string, responses: Record<string, Json>, extra: Json = {}): Json {
  return {
    summary,
    responses: {
      ...responses,
      '400': error('invalid input, naming the field'),
      '401': error('missing, wrong or revoked API key or token'),
      '403': error('an API key whose scope does not reach this route (the message names the scope)'),
    },
    ...extra,
  };
}
const body = (s: Joi.Schema): Json => ({ required: true, content: { 'application/json': { schema: toSchema(s) } } });

/**
 * POST /endpoints: joi's url.when(type) comes out of the converter as an
 * unreadable oneOf, so it is said here in JSON Schema's own words: url is
 * required, except for a polling endpoint, which has none.
 */
function endpointCreateBody(): Json {
  const b = body(schemas.endpointCreate) as { content: { 'application/json': { schema: Json } } };
  const schema = b.content['application/json'].schema as { properties: Record<string, Json> } & Json;
  const { oneOf: _conditional, ...url } = schema.properties.url as Json & { oneOf?: unknown };
  schema.properties.url = url;
  Object.assign(schema, {
    if: { properties: { type: { const: 'polling' } }, required: ['type'] },
    then: { not: { required: ['url'] } },
    else: { required: ['url'] },
  });
  return b;
}

let cached: Json | null = null;

export function openApiDocument(version: string): Json {
  cached ??= {
    openapi: '3.1.0',
    info: {
      title: 'LMS webhooks sidecar API',
      version,
      description:
        "Every route needs Authorization: Bearer with API_TOKEN or an API key made in the admin, except this document. A key with scope hooks reaches only /me and /hooks. A sidecar serving a WordPress network serves each site's API under /sites/{blog_id}/api (/api is the main site's); a site's key reaches its own site only, a network key or API_TOKEN every site.",
    },
    servers: [
      { url: '/api' },
      {
        url: '/sites/{blog_id}/api',
        description: 'one site of a WordPress network served whole',
        variables: { blog_id: { default: '1', description: "the site's blog id in wp_blogs" } },
      },
    ],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Endpoint, Delivery, Attempt, Error: ErrorSchema, Stats, Erasure },
    },
    paths: {
      '/openapi.json': {
        get: {
          summary: 'this document',
          security: [],
          responses: { '200': { description: 'OpenAPI 3.1', content: { 'application/json': {} } } },
        },
      },
      ...endpointPaths(),
      ...deliveryPaths(),
      ...catalogAndSettingsPaths(),
      ...hookPaths(),
      ...erasurePaths(),
      ...pollPaths(),
    },
    webhooks: eventWebhooks(),
  };
  return cached;
}

/** A polling endpoint's receiver pulls its events. */
function pollPaths(): Json {
  const polled = {
    type: 'object',
    properties: {
      cursor: { type: 'string' },
      headers: { type: 'object', additionalProperties: { type: 'string' } },
      body: { type: 'string', description: 'the envelope, exactly as signed' },
    },
  };
  return {
    '/poll/{id}': {
      parameters: [idParam, ...queryParameters(schemas.pollQuery)],
      get: op(
        'a polling endpoint’s events after the cursor, in order, each with the signature headers a push carries; moving the cursor past an event acknowledges it (a key with scope poll:<id> reaches only this)',
        {
          '200': json(
            listOf(polled, { next_cursor: { type: 'string' }, has_more: { type: 'boolean' } }),
            'the next page',
          ),
          '404': error('no such endpoint'),
        },
      ),
    },
  };
}

/** Endpoints and what is done to one. */
function endpointPaths(): Json {
  return {
    '/endpoints': {
      get: op('list endpoints (secrets masked)', {
        '200': json(listOf(ref('Endpoint')), 'the endpoints'),
      }),
      post: op(
        'create an endpoint',
        { '201': json(ref('Endpoint'), 'created, with its full secret') },
        { requestBody: endpointCreateBody() },
      ),
    },
    '/endpoints/{id}': {
      parameters: [idParam],
      get: op('one endpoint', { '200': json(ref('Endpoint'), 'the endpoint'), '404': error('no such endpoint') }),
      patch: op(
        'change an endpoint (null clears an option)',
        { '200': json(ref('Endpoint'), 'the endpoint, with resumed_deliveries'), '404': error('no such endpoint') },
        { requestBody: body(schemas.endpointPatch) },
      ),
      delete: op('delete an endpoint with its deliveries', {
        '204': { description: 'deleted' },
        '404': error('no such endpoint'),
      }),
    },
    '/endpoints/{id}/rotate-secret': {
      parameters: [idParam],
      post: op(
        'rotate the secret, with a grace period',
        { '200': json(ref('Endpoint'), 'the new secret, shown once') },
        { requestBody: { ...body(schemas.rotateSecret), required: false } },
      ),
    },
    '/endpoints/{id}/test': {
      parameters: [idParam],
      post: op('queue a webhook.test event', { '202': json(ref('Delivery'), 'queued') }),
    },
    '/endpoints/{id}/replay-failed': {
      parameters: [idParam],
      post: op(
        'replay failed deliveries created since a time',
        { '202': json({ type: 'object', properties: { replayed: { type: 'integer' } } }, 'how many') },
        { requestBody: body(schemas.replayFailed) },
      ),
    },
    '/endpoints/{id}/backfill': {
      parameters: [idParam],
      post: op(
        'send the endpoint the events of a window it never got',
        {
          '202': json(
            { type: 'object', properties: { queued: { type: 'integer' }, note: { type: 'string' } } },
            'how many',
          ),
        },
        { requestBody: body(schemas.backfill) },
      ),
    },
    '/endpoints/{id}/stats': {
      parameters: [idParam, ...queryParameters(schemas.statsQuery)],
      get: op('attempts, successes, failures and latency per hour or day', {
        '200': json(ref('Stats'), 'the buckets, oldest first'),
      }),
    },
  };
}

/** The delivery log and what is done to one delivery. */
function deliveryPaths(): Json {
  return {
    '/deliveries': {
      get: op(
        'the delivery log, newest first',
        {
          '200': json(listOf(ref('Delivery'), { next_cursor: nullable('string') }), 'one page'),
        },
        {
          parameters: queryParameters(schemas.deliveryQuery),
        },
      ),
    },
    '/deliveries/{id}': {
      parameters: [idParam],
      get: op('one delivery with its envelope and attempt log', {
        '200': json(
          {
            allOf: [
              ref('Delivery'),
              {
                type: 'object',
                properties: { attempt_log: { type: 'array', items: ref('Attempt') }, payload: { type: 'object' } },
              },
            ],
          },
          'the delivery',
        ),
        '404': error('no such delivery'),
      }),
    },
    '/deliveries/{id}/replay': {
      parameters: [idParam],
      post: op('send it again, same event id', { '202': json(ref('Delivery'), 'queued') }),
    },
    '/deliveries/{id}/skip': {
      parameters: [idParam],
      post: op('end a pending delivery as failed; the next of its ordering key goes', {
        '200': json(
          { allOf: [ref('Delivery'), { type: 'object', properties: { next_delivery_id: nullable('integer') } }] },
          'skipped',
        ),
      }),
    },
  };
}

/**
 * Every catalog event as OpenAPI 3.1 `webhooks`: the envelope with that
 * type's `data` schema, so receivers can generate types for what they get.
 */
function eventWebhooks(): Json {
  return Object.fromEntries(
    CATALOG.map((c) => [
      c.type,
      {
        post: {
          summary: c.description,
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['id', 'event', 'created_at', 'data'],
                  properties: {
                    id: { type: 'string' },
                    event: { type: 'string', const: c.type },
                    created_at: { type: 'string', format: 'date-time' },
                    data: c.schema,
                    site: {
                      type: 'object',
                      description: 'only from a sidecar serving a WordPress network: the site the event came from',
                      required: ['id', 'url'],
                      properties: { id: { type: 'integer' }, url: { type: 'string' } },
                    },
                  },
                },
                example: { id: 'evt_example', event: c.type, created_at: '2025-03-20T10:30:00Z', data: c.example },
              },
            },
          },
          responses: { '200': { description: 'any 2xx: received' } },
        },
      },
    ]),
  );
}

/** REST hooks (Zapier) and the caller's identity: what a `hooks` key may reach. */
function hookPaths(): Json {
  const hook = {
    type: 'object',
    properties: { id: { type: 'integer' }, url: { type: 'string' }, event: { type: 'string' } },
  };
  return {
    '/me': {
      get: op('the key calling: its name and scope (any scope; Zapier tests authentication with it)', {
        '200': json(
          {
            type: 'object',
            properties: { name: { type: 'string' }, scope: { type: 'string' }, key_id: nullable('integer') },
          },
          'the caller',
        ),
      }),
    },
    '/hooks': {
      post: op(
        "subscribe a REST hook (Zapier's performSubscribe): an endpoint of type zapier for the target URL and event",
        { '201': json(hook, 'subscribed'), '403': error('a key whose scope does not allow it') },
        { requestBody: body(schemas.hookSubscribe) },
      ),
    },
    '/hooks/{id}': {
      parameters: [idParam],
      delete: op("unsubscribe (Zapier's performUnsubscribe): the hook and its history are removed", {
        '204': { description: 'removed' },
        '404': error('no such hook, or not this key’s'),
      }),
    },
    '/hooks/samples': {
      parameters: queryParameters(schemas.hookSamplesQuery),
      get: op(
        "Zapier's performList: the newest events of that type as a hook receives them (catalog examples when none)",
        {
          '200': json({ type: 'array', items: { type: 'object' } }, 'newest first'),
        },
      ),
    },
  };
}

/** Erasure of matching events' payloads (GDPR Art. 17) and the record of each. */
function erasurePaths(): Json {
  const result = {
    allOf: [
      ref('Erasure'),
      {
        type: 'object',
        properties: {
          waiting_for: {
            type: 'object',
            properties: { deliveries: { type: 'integer' }, outbox_rows: { type: 'integer' } },
          },
          repeated: { type: 'boolean', description: 'a finished erasure of the same condition; nothing changed' },
        },
      },
    ],
  };
  return {
    '/erasure': {
      post: op(
        'replace the stored payloads of the events matching the condition with a marker; ids, types, times and outcomes stay. 400 confirmation_required when it matches no event or at least half of them',
        {
          '200': json(result, 'erased (or a repeat of a finished erasure)'),
          '202': json(result, 'pending: send, and deliveries are still to be sent; finished by the loop'),
        },
        { requestBody: body(schemas.erasureRequest) },
      ),
    },
    '/erasures': {
      get: op('the record of every erasure, newest first (who, when, paths and counts; never the values)', {
        '200': json(listOf(ref('Erasure')), 'erasures'),
      }),
    },
    '/erasures/{id}': {
      parameters: [idParam],
      get: op('one erasure', { '200': json(ref('Erasure'), 'the erasure'), '404': error('no such erasure') }),
    },
  };
}

function catalogAndSettingsPaths(): Json {
  return {
    '/event-types': {
      get: op('the event catalog (type, group, description, example data) and the other types seen in the outbox', {
        '200': json(
          listOf(
            {
              type: 'object',
              properties: {
                type: { type: 'string' },
                group: { type: 'string' },
                description: { type: 'string' },
                example: { type: 'object' },
                schema: { type: 'object', description: 'JSON Schema (2020-12) of data' },
              },
            },
            { seen: { type: 'array', items: { type: 'object', properties: { type: { type: 'string' } } } } },
          ),
          'the catalog',
        ),
      }),
    },
    '/settings': {
      get: op('the settings', { '200': json(toSchema(schemas.settingsPatch), 'every setting') }),
      patch: op(
        'change settings',
        { '200': json(toSchema(schemas.settingsPatch), 'every setting') },
        { requestBody: body(schemas.settingsPatch) },
      ),
    },
  };
}
