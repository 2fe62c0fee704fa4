/**
 * How endpoints, deliveries and attempts look in API answers. Secrets are
 * masked except in the answers that create or rotate them.
 */
import type { Attempt, Delivery, Endpoint, EndpointAuth, EndpointTls } from '../types.js';
import { describeCertificate } from '../delivery/tlsMaterial.js';
import type { Erasure, ErasureResult } from '../manage/erasureOps.js';

/** Values shorter than this show no hint at all: four characters would be too large a share of them. */
const HINT_MIN_CHARS = 24;
/** Prefixes the sidecar itself writes: they say what a value is, not what it holds. */
const KNOWN_PREFIX = /^whsec_/;

/**
 * A fixed, short hint that tells two secrets apart without helping to guess
 * one: the sidecar's own prefix (whsec_) and the last 4 characters, only for
 * values of 24 characters or more; anything shorter is all stars. The same
 * on pages and in the API; the log never shows a secret at all.
 */
export function maskSecret(secret: string): string {
  if (secret.length < HINT_MIN_CHARS) return '********';
  return `${KNOWN_PREFIX.exec(secret)?.[0] ?? ''}…${secret.slice(-4)}`;
}

/** Credentials are masked like the secret: the type and user name stay readable. */
export function maskAuth(a: EndpointAuth) {
  return a.type === 'bearer'
    ? { type: a.type, token: maskSecret(a.token) }
    : { type: a.type, username: a.username, password: '********' };
}

/** Client certificate and CA described, the key masked: enough to tell which certificate is in use and when it expires. */
export function maskTls(t: EndpointTls) {
  return {
    client_cert: t.client_cert ? describeCertificate(t.client_cert) : null,
    client_key: t.client_key ? '********' : null,
    ca: t.ca ? describeCertificate(t.ca) : null,
  };
}

export function presentEndpoint(e: Endpoint, opts: { revealSecret?: boolean } = {}) {
  return {
    id: e.id,
    type: e.type,
    url: e.url,
    description: e.description,
    events: e.events,
    enabled: e.enabled,
    secret: opts.revealSecret ? e.secret : maskSecret(e.secret),
    previous_secret_expires_at: e.previousSecret ? (e.previousSecretExpiresAt?.toISOString() ?? null) : null,
    disabled_reason: e.disabledReason,
    disabled_at: e.disabledAt?.toISOString() ?? null,
    failing_since: e.failingSince?.toISOString() ?? null,
    last_success_at: e.lastSuccessAt?.toISOString() ?? null,
    transformation_failures: e.transformationFailures,
    transformation_retry_at: e.transformationRetryAt?.toISOString() ?? null,
    ordered: e.ordered,
    filter: e.filter,
    headers: e.headers,
    auth: e.auth === null ? null : maskAuth(e.auth),
    rate_limit_per_second: e.rateLimitPerSecond,
    timeout_seconds: e.timeoutSeconds,
    retry_schedule_seconds: e.retryScheduleSeconds,
    signing: e.signing,
    public_key: e.publicKey,
    tls: e.tls === null ? null : maskTls(e.tls),
    templates: e.templates,
    api_key_id: e.apiKeyId,
    transformation: e.transformation,
    created_at: e.createdAt.toISOString(),
    updated_at: e.updatedAt.toISOString(),
  };
}

export function presentDelivery(d: Delivery) {
  return {
    id: d.id,
    endpoint_id: d.endpointId,
    event_id: d.eventId,
    event_type: d.eventType,
    status: d.status,
    ordering_key: d.orderingKey,
    /** A waiting delivery's blocker: the delivery at the head of its key. */
    waiting_for: d.status === 'waiting' ? (d.waitingFor ?? null) : null,
    attempts: d.attempts,
    next_attempt_at: d.status === 'pending' ? (d.nextAttemptAt?.toISOString() ?? null) : null,
    last_attempt_at: d.lastAttemptAt?.toISOString() ?? null,
    last_status_code: d.lastStatusCode,
    last_error: d.lastError,
    created_at: d.createdAt.toISOString(),
    completed_at: d.completedAt?.toISOString() ?? null,
  };
}

export function presentAttempt(a: Attempt) {
  return {
    id: a.id,
    attempt: a.attemptNo,
    started_by: a.startedBy,
    started_at: a.startedAt.toISOString(),
    duration_ms: a.durationMs,
    outcome: a.outcome,
    status_code: a.statusCode,
    error_class: a.errorClass,
    error_message: a.errorMessage,
    request: { url: a.requestUrl, headers: a.requestHeaders },
    response: a.statusCode === null ? null : { headers: a.responseHeaders, body: a.responseBody },
    worker: a.worker,
  };
}

/** An erasure record: the condition's paths, never its values. */
export function presentErasure(e: Erasure) {
  return {
    id: e.id,
    status: e.status,
    pending: e.pendingAction,
    paths: e.paths,
    requested_by: e.requestedBy,
    created_at: e.createdAt.toISOString(),
    completed_at: e.completedAt?.toISOString() ?? null,
    counts: e.counts,
  };
}

export function presentErasureResult(r: ErasureResult) {
  return {
    ...presentErasure(r.erasure),
    waiting_for: { deliveries: r.waitingFor.deliveries, outbox_rows: r.waitingFor.outboxRows },
    repeated: r.repeated,
  };
}
