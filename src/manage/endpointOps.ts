/**
 * Operator actions on endpoints: create, change, rotate, test, delete, and
 * what their pages show about them.
 */
import * as endpointsSql from '../db/endpoints.js';
import * as deliveriesSql from '../db/deliveries.js';
import * as deliveryActionsSql from '../db/deliveryActions.js';
import * as deliveryLogSql from '../db/deliveryLog.js';
import * as eventsSql from '../db/events.js';
import { withTransaction } from '../db/transaction.js';
import * as ordering from '../db/ordering.js';
import * as stats from '../db/stats.js';
import { CATALOG, EVENT_CATALOG, SAMPLE_PAYLOADS, type CatalogEntry } from '../catalog.js';
import { outboxHasOrderingKey } from '../db/outbox.js';
import { retryConflicts } from '../db/conflicts.js';
import { generateEd25519, generateSecret } from '../delivery/sign.js';
import { buildEnvelope, newEventId } from '../delivery/fanout.js';
import { emitOperational, endpointEvent } from '../delivery/operational.js';
import { validateEndpointUrl } from '../delivery/targets.js';
import { checkTransformation } from '../delivery/transform.js';
import { retryTransformationNow } from '../db/transformBackoff.js';
import { ValidationError } from '../errors.js';
import type { Delivery, Endpoint, EndpointOptions } from '../types.js';
import type { ServiceContext } from './context.js';

/** An endpoint as the API and the form give it, mapped from the wire by endpointInputFromWire. */
export interface EndpointInput extends EndpointOptions {
  url: string;
  events: string[];
  description: string;
  enabled: boolean;
  secret?: string;
  /** Subscribe even to types that match nothing known yet. */
  confirm?: boolean;
}

/**
 * The options as the database module takes them. Choosing Ed25519 makes the
 * endpoint's key pair (kept when it already has one); going back to HMAC
 * drops it.
 */
function storedOptions(input: Partial<EndpointInput>, before: Endpoint | null): endpointsSql.StoredOptions {
  const o: endpointsSql.StoredOptions = {
    type: input.type,
    templates: input.templates,
    transformation: input.transformation,
    ordered: input.ordered,
    filter: input.filter,
    headers: input.headers,
    auth: input.auth,
    rateLimitPerSecond: input.rateLimitPerSecond,
    timeoutSeconds: input.timeoutSeconds,
    retryScheduleSeconds: input.retryScheduleSeconds,
    signing: input.signing,
    tls: input.tls,
  };
  if (input.signing === 'ed25519' && !before?.signingKey) Object.assign(o, generateEd25519());
  if (input.signing === 'hmac') Object.assign(o, { signingKey: null, publicKey: null });
  return o;
}

/** Code that does not compile, or defines no handler, is refused with the engine's message and line. */
async function requireRunnableTransformation(input: Partial<EndpointInput>): Promise<void> {
  if (typeof input.transformation !== 'string') return;
  const problem = await checkTransformation(input.transformation);
  if (problem) throw new ValidationError(`transformation: ${problem}`, 'transformation');
}

/** An empty per-endpoint schedule means no retries at all: confirmed, as the global one is. */
function requireConfirmedSchedule(input: Partial<EndpointInput>): void {
  if (input.retryScheduleSeconds?.length === 0 && !input.confirm) {
    throw new ValidationError(
      'an empty retry_schedule_seconds means this endpoint gets no retries at all: a failed attempt is final. Confirm to save it, or give null to use the global schedule',
      'retry_schedule_seconds',
      undefined,
      { needsConfirm: true },
    );
  }
}

/**
 * A subscription that matches nothing known (not a catalog type, not a type
 * ever accepted from the outbox, not a wildcard over either) is most often a
 * typo; it is refused with that said, unless confirmed for a type the LMS
 * will send later.
 */
async function requireKnownSubscriptions(ctx: ServiceContext, patterns: string[]): Promise<void> {
  const { pool, t } = ctx;
  const catalog = Object.values(EVENT_CATALOG).flat();
  const exact = patterns.filter((p) => p !== '*' && !p.endsWith('.*') && !catalog.includes(p));
  const seen = await eventsSql.seenEventTypes(pool, t, exact);
  const unknown = exact.filter((p) => !seen.has(p));
  for (const p of patterns.filter((x) => x.endsWith('.*'))) {
    const prefix = p.slice(0, -1);
    if (!catalog.some((c) => c.startsWith(prefix)) && !(await eventsSql.seenEventTypePrefix(pool, t, prefix)))
      unknown.push(p);
  }
  if (unknown.length === 0) return;
  const list = unknown.map((u) => `"${u}"`).join(', ');
  throw new ValidationError(
    `${list} ${unknown.length === 1 ? 'is' : 'are'} neither in the event catalog nor seen in the outbox, so ${unknown.length === 1 ? 'it matches' : 'they match'} no event yet: check the spelling, or confirm to subscribe to a type the LMS will send later`,
    'events',
    undefined,
    { needsConfirm: true },
  );
}

/**
 * Under the endpoint's lock, as every change of a key's head: switching
 * ordering off sends what was waiting now; switching it on applies to
 * deliveries created from then on.
 */
async function setOrdered(ctx: ServiceContext, id: number, on: boolean): Promise<void> {
  const { pool, t, box } = ctx;
  const released = await retryConflicts(() =>
    withTransaction(pool, async (conn) => {
      const ep = (await endpointsSql.lockEndpoints(conn, t, [id])).get(id);
      if (!ep) return 0;
      await endpointsSql.updateEndpoint(conn, t, box, id, { ordered: on });
      return on ? 0 : ordering.releaseWaiting(conn, t, id, ep.enabled);
    }),
  );
  if (released > 0) ctx.nudge();
}

export function endpointOps(ctx: ServiceContext) {
  const { pool, t, box } = ctx;
  return {
    listEndpoints: () => endpointsSql.listEndpoints(pool, t, box),
    getEndpoint: ctx.mustGetEndpoint,

    async createEndpoint(input: EndpointInput): Promise<Endpoint> {
      // A polling endpoint has no URL: its receiver polls GET /api/poll/:id.
      const url = input.type === 'polling' ? '' : await validateEndpointUrl(input.url, ctx.urlPolicy());
      if (input.type === 'polling' && input.ordered)
        throw new ValidationError(
          'ordered does not apply to a polling endpoint: a poll returns events in order',
          'ordered',
        );
      if (!input.confirm) await requireKnownSubscriptions(ctx, input.events);
      requireConfirmedSchedule(input);
      await requireRunnableTransformation(input);
      const id = await endpointsSql.insertEndpoint(pool, t, box, {
        url,
        description: input.description,
        events: input.events,
        enabled: input.enabled,
        secret: input.secret ?? generateSecret(),
        ...storedOptions(input, null),
      });
      return ctx.mustGetEndpoint(id);
    },

    /** Re-enabling resumes the endpoint's paused deliveries unless resumePaused is false. */
    async updateEndpoint(
      id: number,
      patch: Partial<Omit<EndpointInput, 'secret'>>,
      opts: { resumePaused?: boolean } = {},
    ): Promise<{ endpoint: Endpoint; resumed: number }> {
      const before = await ctx.mustGetEndpoint(id);
      if (patch.type !== undefined && (patch.type === 'polling') !== (before.type === 'polling'))
        throw new ValidationError(
          before.type === 'polling'
            ? 'type: a polling endpoint stays one (its receiver pulls its events); make a new endpoint to push them'
            : 'type: an endpoint that is pushed to cannot become a polling one; make a new polling endpoint',
          'type',
        );
      if (before.type === 'polling' && patch.url !== undefined && patch.url !== '')
        throw new ValidationError('url is not used by a polling endpoint: its receiver polls GET /api/poll/:id', 'url');
      const url =
        patch.url === undefined || before.type === 'polling'
          ? undefined
          : await validateEndpointUrl(patch.url, ctx.urlPolicy());
      // Only what changes is checked: an endpoint saved earlier keeps its subscriptions.
      if (!patch.confirm && patch.events)
        await requireKnownSubscriptions(
          ctx,
          patch.events.filter((e) => !before.events.includes(e)),
        );
      requireConfirmedSchedule(patch);
      await requireRunnableTransformation(patch);
      const { ordered, ...options } = storedOptions(patch, before);
      await endpointsSql.updateEndpoint(pool, t, box, id, {
        url,
        description: patch.description,
        events: patch.events,
        enabled: patch.enabled,
        ...options,
      });
      if (ordered !== undefined && ordered !== before.ordered) await setOrdered(ctx, id, ordered);
      // What waited for the old code goes now, through the new.
      if (patch.transformation !== undefined && patch.transformation !== before.transformation)
        await retryTransformationNow(pool, t, id);
      let resumed = 0;
      if (patch.enabled === false && before.enabled) {
        await deliveryActionsSql.pauseForEndpoint(pool, t, id);
        const [notice] = await endpointsSql.endpointNotices(pool, t, [id]);
        const sent = await retryConflicts(() =>
          withTransaction(pool, (conn) =>
            emitOperational(conn, t, [endpointEvent('webhook.endpoint_disabled', notice!)]),
          ),
        );
        ctx.deps.notify?.(sent);
        ctx.nudge();
      }
      if (patch.enabled === true && !before.enabled && opts.resumePaused !== false) {
        resumed = await deliveryActionsSql.resumeForEndpoint(pool, t, id);
        ctx.nudge();
      }
      return { endpoint: await ctx.mustGetEndpoint(id), resumed };
    },

    async deleteEndpoint(id: number): Promise<void> {
      await ctx.mustGetEndpoint(id);
      // Deliveries first: a pending delivery whose endpoint is gone could never be sent.
      await deliveryActionsSql.deleteForEndpoint(pool, t, id);
      await endpointsSql.deleteEndpointRow(pool, t, id);
    },

    async rotateSecret(id: number, opts: { secret?: string; grace_hours?: number }): Promise<Endpoint> {
      await ctx.mustGetEndpoint(id);
      const grace = opts.grace_hours ?? ctx.deps.settings.current().rotationGraceHours;
      await endpointsSql.rotateSecret(pool, t, box, id, opts.secret ?? generateSecret(), grace);
      return ctx.mustGetEndpoint(id);
    },

    /** Queues a webhook.test event for one endpoint; returns the new delivery's id. */
    /** `previewOf`: on a chat endpoint, the test shows that event type's message, with its newest real data or the example. */
    async sendTestEvent(id: number, previewOf?: string): Promise<Delivery> {
      const ep = await ctx.mustGetEndpoint(id);
      if (!ep.enabled)
        throw new ValidationError(`endpoint ${id} is disabled; enable it before sending a test event`, 'enabled');
      const eventId = newEventId();
      const now = new Date();
      const preview = previewOf
        ? {
            type: previewOf,
            data: (await eventsSql.latestEventData(pool, t, previewOf)) ?? SAMPLE_PAYLOADS[previewOf] ?? {},
          }
        : undefined;
      const data = JSON.stringify({
        endpoint_id: id,
        message: 'Test event from the LMS webhooks sidecar',
        sent_at: now.toISOString(),
        ...(preview ? { preview } : {}),
      });
      const deliveryId = await withTransaction(pool, async (conn) => {
        const pks = await eventsSql.insertEvents(conn, t, [
          {
            eventId,
            eventType: 'webhook.test',
            outboxId: null,
            body: buildEnvelope(eventId, 'webhook.test', now, data, t.site),
            occurredAt: now,
          },
        ]);
        await deliveriesSql.insertDeliveries(conn, t, [
          { endpointId: id, eventPk: pks.get(eventId.toLowerCase())!, eventType: 'webhook.test', status: 'pending' },
        ]);
        const [d] = await deliveryLogSql.listDeliveries(conn, t, { eventId, limit: 1 });
        return d!.id;
      });
      ctx.nudge();
      return ctx.mustGetDelivery(deliveryId);
    },

    /** Attempts per hour or day, successes, failures, latency bands: GET /api/endpoints/:id/stats and the endpoint page. */
    async endpointStats(id: number, days: number) {
      await ctx.mustGetEndpoint(id);
      return stats.endpointStats(pool, t, id, days);
    },

    /** What the top of an endpoint's page says about its health now. */
    endpointHealth: (id: number) => stats.endpointHealthNow(pool, t, id),

    /** The catalog with descriptions and examples, and the other types accepted from the outbox. */
    async eventTypes(): Promise<{ catalog: readonly CatalogEntry[]; seen: string[] }> {
      return {
        catalog: CATALOG,
        seen: await eventsSql.otherEventTypes(
          pool,
          t,
          CATALOG.map((c) => c.type),
        ),
      };
    },

    /** Whether the outbox has ordering_key (an LMS-made outbox may not): ordered endpoints need it. */
    orderingAvailable: () => outboxHasOrderingKey(pool, t),
  };
}
