/**
 * Glossary
 * - outbox row: what the LMS inserted into {prefix}webhook_outbox.
 * - fan-out: turning one outbox row into one event and one delivery per subscribed endpoint.
 * - event: an accepted outbox row (or a test event) with its envelope bytes frozen.
 * - delivery: one event for one endpoint, with the backoff columns.
 * - attempt: one HTTP request of a delivery, successful or not.
 * - claim: taking due deliveries for this process under a lease (claim_token + expiry).
 * - lease: how long a claim holds; when it runs out the delivery is due again,
 *   which is how the deliveries of a process that died are recovered.
 */

/** waiting: held behind an earlier delivery of the same ordering key (ordered endpoints only). */
/** cancelled: the endpoint's transformation chose not to send it. */
export type DeliveryStatus = 'pending' | 'waiting' | 'succeeded' | 'failed' | 'paused' | 'cancelled';
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = [
  'pending',
  'waiting',
  'succeeded',
  'failed',
  'paused',
  'cancelled',
];

/** Chat providers whose webhooks take a message rendered from a template. */
export const CHAT_TYPES = ['slack', 'discord', 'teams'] as const;
export type ChatType = (typeof CHAT_TYPES)[number];
/** What an operator may create: `webhook` (the signed envelope, DESIGN) or a chat type (a message for that provider). */
/** polling: never pushed; the receiver pulls its events with GET /api/poll/:id. */
export const ENDPOINT_TYPES = ['webhook', ...CHAT_TYPES, 'polling'] as const;
/** Stored types add `zapier`: the envelope, to a REST hook's target, made and removed by Zapier through /api/hooks. */
export type EndpointType = (typeof ENDPOINT_TYPES)[number] | 'zapier';

/**
 * Deliveries started per second to a chat endpoint that sets no rate limit:
 * Slack allows about one message per second per incoming webhook; Discord
 * about 30 per minute per webhook's channel; Teams Workflows (Power
 * Automate) is kept to one per second as well.
 */
export const CHAT_RATE_PER_SECOND: Readonly<Record<ChatType, number>> = { slack: 1, discord: 0.5, teams: 1 };

export function isChatType(type: string): type is ChatType {
  return (CHAT_TYPES as readonly string[]).includes(type);
}

export interface Endpoint {
  id: number;
  type: EndpointType;
  /** A chat endpoint's own message templates by event type (the defaults fill the rest). */
  templates: Record<string, string> | null;
  /** The API key that made it (a REST hook's subscription), or null. */
  apiKeyId: number | null;
  /** JavaScript run in a sandbox over each request before it is signed and sent, or null. */
  transformation: string | null;
  url: string;
  description: string;
  events: string[];
  enabled: boolean;
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: Date | null;
  disabledReason: string | null;
  disabledAt: Date | null;
  failingSince: Date | null;
  lastSuccessAt: Date | null;
  /** Runs of its transformation in a row that failed (0 once one works). */
  transformationFailures: number;
  /** Set while its deliveries wait because its transformation keeps failing (db/transformBackoff.ts). */
  transformationRetryAt: Date | null;
  /** Deliveries sharing an ordering_key go one at a time, in outbox order. */
  ordered: boolean;
  /** Only events whose envelope matches get a delivery (checked at fan-out). */
  filter: EndpointFilter | null;
  /** Extra request headers. */
  headers: Record<string, string> | null;
  /** Sent as Authorization; masked when read back. */
  auth: EndpointAuth | null;
  /** Deliveries started per second to this endpoint, over every replica. */
  rateLimitPerSecond: number | null;
  /** Overrides of the global settings (null = the global one). */
  timeoutSeconds: number | null;
  retryScheduleSeconds: number[] | null;
  signing: 'hmac' | 'ed25519';
  /** Ed25519 private key, PKCS#8 DER base64; never shown. */
  signingKey: string | null;
  /** whpk_ + base64 of the raw 32-byte Ed25519 public key. */
  publicKey: string | null;
  /** Mutual TLS: the client certificate and key presented, and the CA the receiver's certificate is checked against. */
  tls: EndpointTls | null;
  /** A polling endpoint: when its receiver last polled. */
  lastPolledAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export const FILTER_OPS = ['eq', 'neq', 'in', 'nin', 'exists', 'gt', 'gte', 'lt', 'lte'] as const;
export type FilterOp = (typeof FILTER_OPS)[number];
export interface FilterCondition {
  /** Dot-separated into the envelope: data.course_id, event. */
  path: string;
  op: FilterOp;
  value?: unknown;
}
export type EndpointFilter = { all: FilterCondition[] } | { any: FilterCondition[] };
export type EndpointAuth = { type: 'basic'; username: string; password: string } | { type: 'bearer'; token: string };

/** The options an operator may set on an endpoint beyond the basics; undefined = unchanged (or the default). */
export interface EndpointOptions {
  type?: EndpointType;
  templates?: Record<string, string> | null;
  transformation?: string | null;
  /** Deliveries sharing an ordering_key go one at a time, in outbox order. */
  ordered?: boolean;
  filter?: EndpointFilter | null;
  headers?: Record<string, string> | null;
  auth?: EndpointAuth | null;
  rateLimitPerSecond?: number | null;
  timeoutSeconds?: number | null;
  retryScheduleSeconds?: number[] | null;
  signing?: 'hmac' | 'ed25519';
  tls?: EndpointTls | null;
}

/** PEM texts, as the API takes them; stored sealed, never shown back (the API shows what they are). */
export interface EndpointTls {
  /** Both or neither: a CA alone trusts a receiver's private CA without presenting a certificate. */
  client_cert?: string | null;
  client_key?: string | null;
  /** Trust the receiver's certificate by this CA (PEM, one or more) instead of the system's. */
  ca?: string | null;
}

export interface Delivery {
  id: number;
  endpointId: number;
  eventPk: number;
  eventId: string;
  eventType: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: Date | null;
  lastAttemptAt: Date | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: Date;
  completedAt: Date | null;
  /** Set for deliveries of an ordered endpoint whose event had an ordering_key. */
  orderingKey: string | null;
  /** For a waiting delivery: the delivery at the head of its key, which it waits for. */
  waitingFor?: number | null;
}

/** message_rejected: a chat provider refused the message our template rendered (our fault, not the receiver's). */
export type ErrorClass =
  | 'http_status'
  | 'timeout'
  | 'connection'
  | 'dns'
  | 'tls'
  | 'blocked_target'
  | 'internal'
  | 'message_rejected'
  /** The endpoint's transformation threw, ran out of time or memory, or returned something unusable: nothing was sent. */
  | 'transformation';

/**
 * Failures of our own making or the operator's configuration (a request we
 * could not build, a message the template rendered badly, a transformation
 * that failed): final at once, since a retry fails the same way, and never
 * counted against the endpoint's health.
 */
export const OUR_FAULT: ReadonlySet<ErrorClass | null> = new Set<ErrorClass>([
  'internal',
  'message_rejected',
  'transformation',
]);

export interface Attempt {
  id: number;
  deliveryId: number;
  attemptNo: number;
  startedAt: Date;
  durationMs: number;
  outcome: 'success' | 'failure';
  statusCode: number | null;
  errorClass: ErrorClass | null;
  errorMessage: string | null;
  /** The URL this attempt was sent to (the endpoint's URL may have changed since). */
  requestUrl: string;
  /** What started it: the first attempt, a scheduled retry, or an operator's replay (null for attempts logged before this was kept). */
  startedBy: 'first' | 'retry' | 'replay' | null;
  requestHeaders: Record<string, string>;
  responseHeaders: Record<string, string> | null;
  responseBody: string | null;
  worker: string;
}

export interface Settings {
  /** Delays after the 1st, 2nd, … failed attempt; its length is the number of retries. */
  retryScheduleSeconds: number[];
  /** ±fraction applied to each delay so a recovering receiver is not hit by a wall of retries. */
  retryJitterRatio: number;
  /** Longest delay a Retry-After header may ask for. */
  retryAfterCapSeconds: number;
  timeoutSeconds: number;
  /** Requests in flight to one endpoint from one process. */
  maxInFlightPerEndpoint: number;
  maxPayloadBytes: number;
  /** Bytes of a response body kept in the attempt log. */
  responseBodyMaxBytes: number;
  /** An endpoint failing without one success for this long is disabled. */
  autoDisableAfterHours: number;
  rotationGraceHours: number;
  retentionDays: number;
  /** Refuse http:// endpoint URLs, when saved and when sent. */
  httpsOnly: boolean;
  /** Deliveries one process claims per second at most (0: no cap): a backlog drains beside the site, not over it. */
  maxDeliveriesPerSecond: number;
  /** Erase a student's payloads this many days after their student.deleted event reached every endpoint (null: never). */
  eraseAfterStudentDeletedDays: number | null;
}

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  retryScheduleSeconds: [60, 300, 1800, 7200, 86400],
  retryJitterRatio: 0.1,
  retryAfterCapSeconds: 86400,
  timeoutSeconds: 10,
  maxInFlightPerEndpoint: 64,
  maxPayloadBytes: 256 * 1024,
  responseBodyMaxBytes: 4096,
  autoDisableAfterHours: 120,
  rotationGraceHours: 24,
  retentionDays: 30,
  httpsOnly: false,
  maxDeliveriesPerSecond: 100,
  eraseAfterStudentDeletedDays: null,
});

/**
 * Each setting's name on the wire (API, form fields) and in the settings
 * table: snake_case there, camelCase in code, mapped here only.
 */
export const SETTING_NAMES: Readonly<Record<keyof Settings, string>> = Object.freeze({
  retryScheduleSeconds: 'retry_schedule_seconds',
  retryJitterRatio: 'retry_jitter_ratio',
  retryAfterCapSeconds: 'retry_after_cap_seconds',
  timeoutSeconds: 'timeout_seconds',
  maxInFlightPerEndpoint: 'max_in_flight_per_endpoint',
  maxPayloadBytes: 'max_payload_bytes',
  responseBodyMaxBytes: 'response_body_max_bytes',
  autoDisableAfterHours: 'auto_disable_after_hours',
  rotationGraceHours: 'rotation_grace_hours',
  retentionDays: 'retention_days',
  httpsOnly: 'https_only',
  maxDeliveriesPerSecond: 'max_deliveries_per_second',
  eraseAfterStudentDeletedDays: 'erase_after_student_deleted_days',
});

/** Settings by their wire and table names; keys not set are left out. */
export function settingsToWire(s: Partial<Settings>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(SETTING_NAMES) as [keyof Settings, string][]) {
    if (s[key] !== undefined) out[name] = s[key];
  }
  return out;
}

/** Settings from their wire or table names; names that are not settings are left out. */
export function settingsFromWire(w: Record<string, unknown>): Partial<Settings> {
  const out: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(SETTING_NAMES)) {
    if (w[name] !== undefined) out[key] = w[name];
  }
  return out;
}
