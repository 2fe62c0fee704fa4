/**
 * One attempt of one claimed delivery — sign the stored
 * envelope bytes, POST them through the HTTP client, and decide what the
 * result means (success, retry after a delay, failed for good, endpoint
 * disabled). Never throws: everything becomes a Recorded for the recorder.
 */
import { erasureOf } from './erasedPayload.js';
import { validateHeaderName, validateHeaderValue } from 'node:http';
import type { ClaimedDelivery, Completion } from '../db/claims.js';
import { ed25519PrivateKey, signedHeaders } from './sign.js';
import { nextDelayMs, parseRetryAfterMs } from './backoff.js';
import { failure, type Sender, type SendResult } from './send.js';
import type { SettingsStore } from './settingsStore.js';
import type { Recorded } from './recorder.js';
import type { DeliveryObserver } from '../metrics.js';
import { isChatType, OUR_FAULT, type EndpointAuth, type Settings } from '../types.js';
import { coerceError } from '../errors.js';
import { chatBody, readAnswer, type ChatVerdict } from './chat.js';
import { runTransformation } from './transform.js';
import { TRANSFORMATION_BACKOFF_AFTER } from '../db/transformBackoff.js';

export interface Decision {
  status: Completion['status'];
  delayMs: number | null;
  /** Set when this response means the endpoint must be disabled now. */
  disableReason: string | null;
}

/** What one attempt's result means for its delivery, `attemptNo` counting from the last replay. Pure. */
export function decide(
  result: SendResult,
  attemptNo: number,
  settings: Settings,
  nowMs: number,
  random: () => number = Math.random,
  verdict: ChatVerdict = null,
): Decision {
  if (result.ok) return { status: 'succeeded', delayMs: null, disableReason: null };
  // Our own fault would fail the same way on every retry: fail now, with the reason.
  // The same code (or template) fails the same way on every retry: final, replayable once fixed.
  if (OUR_FAULT.has(result.errorClass)) return { status: 'failed', delayMs: null, disableReason: null };
  if (verdict?.kind === 'gone') return { status: 'paused', delayMs: null, disableReason: verdict.reason };
  if (result.statusCode === 410) {
    return { status: 'paused', delayMs: null, disableReason: 'the endpoint answered 410 Gone' };
  }
  const retryAfter =
    verdict?.kind === 'retry_after'
      ? verdict.ms
      : result.statusCode === 429 || result.statusCode === 503
        ? parseRetryAfterMs(result.headers?.['retry-after'], nowMs)
        : null;
  const delayMs = nextDelayMs(settings, attemptNo, retryAfter, random);
  return delayMs === null
    ? { status: 'failed', delayMs: null, disableReason: null }
    : { status: 'pending', delayMs, disableReason: null };
}

export interface AttemptDeps {
  sender: Sender;
  /** Which site's deliveries these are (its table prefix): transformations run in a lane per site and endpoint. */
  site: string;
  settings: SettingsStore;
  userAgent: string;
  worker: string;
  observer?: DeliveryObserver;
}

export type Attempter = (c: ClaimedDelivery) => Promise<Recorded>;

export function createAttempter(deps: AttemptDeps): Attempter {
  return async function attempt(c) {
    const startedAt = new Date();
    // Disabled since it was claimed: nothing is sent, the delivery waits paused.
    if (!c.endpointEnabled) return notSent(c, startedAt, 'paused', null);
    // A polling endpoint's delivery made due by a replay or a resume: back to waiting for a poll (no time set).
    if (c.endpointType === 'polling') return notSent(c, startedAt, 'pending', null);
    // Erased since it was queued (a replay, a backfill): the marker is not an event to deliver.
    const erasure = erasureOf(c.body);
    if (erasure !== null) {
      deps.observer?.completed(c.endpointId, 'cancelled');
      return notSent(
        c,
        startedAt,
        'cancelled',
        `the event's payload was erased (erasure ${erasure}): nothing was sent`,
      );
    }
    // Its transformation keeps failing: the delivery waits for the endpoint's next try, nothing runs or is counted.
    if (c.transformation !== null && c.transformationWaitMs > 0) return waiting(c, startedAt, c.transformationWaitMs);
    const s = forEndpoint(deps.settings.current(), c);
    const sent = await signAndSend(c, s, startedAt, deps);
    // The same, learnt in this process after the claim (the runs queued behind the failures).
    if (sent.waitMs !== undefined) return waiting(c, startedAt, sent.waitMs);
    if (sent.cancelled) {
      deps.observer?.completed(c.endpointId, 'cancelled');
      return {
        ...notSent(c, startedAt, 'cancelled', 'cancelled by transformation: nothing was sent'),
        ...transformationRan(c, 'ran'),
      };
    }
    const { headers } = sent;
    const { result, verdict } = readChat(c, sent.result);
    // One numbering through every replay; the retry schedule counts from the last replay.
    const attemptNo = c.attempts + 1;
    const sinceReplay = attemptNo - c.retryBase;
    const d = decide(result, sinceReplay, s, Date.now(), Math.random, verdict);
    deps.observer?.attempt(c.endpointId, result.ok, result.durationMs);
    deps.observer?.completed(c.endpointId, d.status === 'pending' ? 'retry' : d.status);
    return {
      endpointId: c.endpointId,
      orderingKey: c.orderingKey,
      eventType: c.eventType,
      ok: result.ok,
      disableReason: d.disableReason,
      removeEndpoint: c.endpointType === 'zapier' && result.statusCode === 410,
      ...transformationRan(
        c,
        result.errorClass !== 'transformation' ? 'ran' : sent.stoppedAtLimit ? 'stopped' : 'failed',
      ),
      attempt: {
        eventId: c.eventId,
        eventType: c.eventType,
        deliveryId: c.id,
        attemptNo,
        startedAt,
        durationMs: result.durationMs,
        outcome: result.ok ? 'success' : 'failure',
        statusCode: result.statusCode,
        errorClass: result.errorClass,
        errorMessage: result.errorMessage,
        requestUrl: sent.url,
        startedBy: attemptNo === 1 ? 'first' : sinceReplay === 1 ? 'replay' : 'retry',
        requestHeaders: headers,
        responseHeaders: result.headers,
        responseBody: result.body,
        worker: deps.worker,
      },
      completion: {
        id: c.id,
        claimToken: c.claimToken,
        status: d.status,
        delayMs: d.delayMs,
        attempted: true,
        startedAt,
        statusCode: result.statusCode,
        error: result.ok ? null : `${result.errorClass}: ${result.errorMessage}`,
      },
    };
  };
}

/** A chat provider's answer read by its rules: our message refused is ours to fix, not the receiver's failure. */
function readChat(c: ClaimedDelivery, result: SendResult): { result: SendResult; verdict: ChatVerdict } {
  if (!isChatType(c.endpointType) || result.statusCode === null) return { result, verdict: null };
  const verdict = readAnswer(c.endpointType, result);
  if (verdict?.kind === 'rejected')
    return { result: { ...result, errorClass: 'message_rejected', errorMessage: verdict.reason }, verdict };
  if (verdict?.kind === 'gone') return { result: { ...result, errorMessage: verdict.reason }, verdict };
  return { result, verdict };
}

/** The global settings with the endpoint's own timeout and retry schedule where it has them. */
function forEndpoint(s: Settings, c: ClaimedDelivery): Settings {
  if (c.timeoutSeconds === null && c.retryScheduleSeconds === null) return s;
  return {
    ...s,
    timeoutSeconds: c.timeoutSeconds ?? s.timeoutSeconds,
    retryScheduleSeconds: c.retryScheduleSeconds ?? s.retryScheduleSeconds,
  };
}

export function authorization(auth: EndpointAuth): string {
  return auth.type === 'bearer'
    ? `Bearer ${auth.token}`
    : `Basic ${Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64')}`;
}

async function signAndSend(
  c: ClaimedDelivery,
  s: Settings,
  startedAt: Date,
  deps: AttemptDeps,
): Promise<{
  headers: Record<string, string>;
  result: SendResult;
  url: string;
  cancelled?: true;
  waitMs?: number;
  stoppedAtLimit?: true;
}> {
  let logged: Record<string, string> = {};
  let url = c.url;
  try {
    // A chat endpoint gets the event's message; what is signed is what is sent.
    let body = Buffer.from(isChatType(c.endpointType) ? chatBody(c.endpointType, c.templates, c.body) : c.body, 'utf8');
    let method: 'POST' | 'PUT' = 'POST';
    if (c.transformation !== null) {
      const t = await transformRequest(c, body.toString('utf8'), deps.site);
      if (t.kind === 'cancel')
        return { headers: {}, result: failure(0, 'transformation', 'cancelled'), url, cancelled: true };
      if (t.kind === 'waiting')
        return { headers: {}, result: failure(0, 'transformation', 'waiting'), url, waitMs: t.waitMs };
      if (t.kind === 'error')
        return {
          headers: {},
          result: failure(0, 'transformation', `${t.message}; nothing was sent`),
          url,
          ...(t.limit ? { stoppedAtLimit: true as const } : {}),
        };
      // What is signed is what is sent: receivers verify the transformed bytes as usual.
      body = Buffer.from(t.body, 'utf8');
      url = t.url;
      method = t.method;
    }
    const signed = signedHeaders({
      eventId: c.eventId,
      eventType: c.eventType,
      body,
      timestampSeconds: Math.floor(startedAt.getTime() / 1000),
      secrets: c.secrets,
      userAgent: deps.userAgent,
      ed25519: c.ed25519Key === null ? null : ed25519PrivateKey(c.ed25519Key),
    });
    // The endpoint's own headers never replace ours (the API refuses those names too).
    const headers = c.extraHeaders || c.auth ? { ...c.extraHeaders, ...signed } : signed;
    if (c.auth) headers.authorization = authorization(c.auth);
    // The attempt log keeps the headers sent, with the credentials masked.
    logged = c.auth
      ? { ...headers, authorization: c.auth.type === 'bearer' ? 'Bearer ********' : 'Basic ********' }
      : headers;
    checkHeaders(headers);
    if (s.httpsOnly && !url.startsWith('https:')) {
      return {
        headers: logged,
        result: failure(0, 'blocked_target', 'the HTTPS-only setting is on and this URL is http://'),
        url,
      };
    }
    return {
      headers: logged,
      url,
      result: await deps.sender.send({
        url,
        method,
        headers,
        body,
        timeoutMs: s.timeoutSeconds * 1000,
        keepBodyBytes: s.responseBodyMaxBytes,
        tls: c.tls,
      }),
    };
  } catch (err) {
    // A request we cannot build (send() itself never throws) is our fault, not the receiver's.
    return {
      headers: logged,
      url,
      result: failure(
        0,
        'internal',
        `the sidecar could not build this request, so it was not sent: ${coerceError(err).message}`,
      ),
    };
  }
}

/** The endpoint's transformation over the request as built, in the pool's lane of this endpoint. */
function transformRequest(c: ClaimedDelivery, body: string, site: string) {
  return runTransformation(
    c.transformation!,
    { method: 'POST', url: c.url, eventType: c.eventType, body },
    `${site}:${c.endpointId}`,
  );
}

/**
 * What the recorder must hear of the endpoint's transformation: every
 * failure, and a run that worked only when it ends a spell of failures (so
 * an endpoint whose code works costs no statement for it).
 */
function transformationRan(c: ClaimedDelivery, how: 'ran' | 'failed' | 'stopped'): Pick<Recorded, 'transformation'> {
  if (c.transformation === null || (how === 'ran' && c.transformationFailures === 0)) return {};
  return { transformation: how };
}

/** The delivery waits for a transformation that keeps failing: pending again after waitMs, nothing counted. */
function waiting(c: ClaimedDelivery, startedAt: Date, waitMs: number): Recorded {
  const until = Date.now() + waitMs;
  return {
    ...notSent(
      c,
      startedAt,
      'pending',
      `waiting: this endpoint's transformation keeps failing (${TRANSFORMATION_BACKOFF_AFTER} runs in a row, or one stopped at its time or memory limit); it runs again at ${new Date(until).toISOString()}`,
      waitMs,
    ),
    waitingUntil: until,
  };
}

/**
 * Nothing was sent and no attempt is counted: the endpoint was disabled
 * meanwhile (paused), its transformation cancelled it, or the delivery
 * waits (pending, after delayMs) for a transformation that keeps failing.
 */
function notSent(
  c: ClaimedDelivery,
  startedAt: Date,
  status: 'paused' | 'cancelled' | 'pending',
  error: string | null,
  delayMs: number | null = null,
): Recorded {
  return {
    attempt: null,
    endpointId: c.endpointId,
    orderingKey: c.orderingKey,
    eventType: c.eventType,
    ok: false,
    disableReason: null,
    completion: {
      id: c.id,
      claimToken: c.claimToken,
      status,
      delayMs,
      attempted: false,
      startedAt,
      statusCode: null,
      error,
    },
  };
}

/** Node's own header checks, run before sending so a bad value is named here rather than deep in got. */
function checkHeaders(headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) {
    try {
      validateHeaderName(name);
      validateHeaderValue(name, value);
    } catch {
      throw new Error(
        `the ${name} header value ${JSON.stringify(value.slice(0, 80))} has characters HTTP headers cannot carry`,
      );
    }
  }
}
