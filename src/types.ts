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
export type DeliveryStatus = 'pending' | 'waiting' | 'succeeded' | 'failed' | 'paused';
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['pending', 'waiting', 'succeeded', 'failed', 'paused'];

export interface Endpoint {
  id: number;
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

export type ErrorClass = 'http_status' | 'timeout' | 'connection' | 'dns' | 'tls' | 'blocked_target' | 'internal';

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
  retry_schedule_seconds: number[];
  /** ±fraction applied to each delay so a recovering receiver is not hit by a wall of retries. */
  retry_jitter_ratio: number;
  /** Longest delay a Retry-After header may ask for. */
  retry_after_cap_seconds: number;
  timeout_seconds: number;
  /** Requests in flight to one endpoint from one process. */
  max_in_flight_per_endpoint: number;
  max_payload_bytes: number;
  /** Bytes of a response body kept in the attempt log. */
  response_body_max_bytes: number;
  /** An endpoint failing without one success for this long is disabled. */
  auto_disable_after_hours: number;
  rotation_grace_hours: number;
  retention_days: number;
  /** Refuse http:// endpoint URLs, when saved and when sent. */
  https_only: boolean;
}

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  retry_schedule_seconds: [60, 300, 1800, 7200, 86400],
  retry_jitter_ratio: 0.1,
  retry_after_cap_seconds: 86400,
  timeout_seconds: 10,
  max_in_flight_per_endpoint: 64,
  max_payload_bytes: 256 * 1024,
  response_body_max_bytes: 4096,
  auto_disable_after_hours: 120,
  rotation_grace_hours: 24,
  retention_days: 30,
  https_only: false,
});
