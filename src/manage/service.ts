/**
 * What operators can do, shared by the JSON API and the admin pages: routes
 * validate input, call one of these, and render the result.
 */
import type { Pool, PoolConnection } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import * as endpointsSql from '../db/endpoints.js';
import * as deliveriesSql from '../db/deliveries.js';
import { listAttempts } from '../db/attempts.js';
import * as eventsSql from '../db/events.js';
import { withTransaction } from '../db/pool.js';
import * as ordering from '../db/ordering.js';
import * as stats from '../db/stats.js';
import { CATALOG, type CatalogEntry } from '../catalog.js';
import { outboxHasOrderingKey } from '../db/outbox.js';
import { retryConflicts } from '../delivery/conflicts.js';
import { generateEd25519, generateSecret } from '../delivery/sign.js';
import { buildEnvelope, endpointsFor, newEventId } from '../delivery/fanout.js';
import { subscribed } from '../delivery/subscriptions.js';
import { emitOperational, endpointEvent, type OperationalNotice } from '../delivery/operational.js';
import { validateEndpointUrl } from '../delivery/targets.js';
import type { SettingsStore } from '../delivery/settingsStore.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { EVENT_CATALOG, type Attempt, type Delivery, type Endpoint, type EndpointAuth, type EndpointFilter, type Settings } from '../types.js';

export interface ServiceDeps {
  pool: Pool;
  tables: Tables;
  settings: SettingsStore;
  allowPrivateTargets: boolean;
  /** Called after something became due, so this process picks it up now rather than at the next tick. */
  nudge?: () => void;
  /** Mails operational events the service emitted (an operator disabling an endpoint). */
  notify?: (notices: OperationalNotice[]) => void;
}

export interface EndpointInput {
  url: string;
  events: string[];
  description: string;
  enabled: boolean;
  secret?: string;
  /** Deliveries sharing an ordering_key go one at a time, in outbox order. */
  ordered?: boolean;
  filter?: EndpointFilter | null;
  headers?: Record<string, string> | null;
  auth?: EndpointAuth | null;
  rate_limit_per_second?: number | null;
  timeout_seconds?: number | null;
  retry_schedule_seconds?: number[] | null;
  signing?: 'hmac' | 'ed25519';
  /** Subscribe even to types that match nothing known yet. */
  confirm?: boolean;
}

/**
 * The options as the database module takes them. Choosing Ed25519 makes the
 * endpoint's key pair (kept when it already has one); going back to HMAC
 * drops it.
 */
function endpointOptions(input: Partial<EndpointInput>, before: Endpoint | null): endpointsSql.EndpointOptions {
  const o: endpointsSql.EndpointOptions = {
    ordered: input.ordered,
    filter: input.filter,
    headers: input.headers,
    auth: input.auth,
    rateLimitPerSecond: input.rate_limit_per_second,
    timeoutSeconds: input.timeout_seconds,
    retryScheduleSeconds: input.retry_schedule_seconds,
    signing: input.signing,
  };
  if (input.signing === 'ed25519' && !before?.signingKey) Object.assign(o, generateEd25519());
  if (input.signing === 'hmac') Object.assign(o, { signingKey: null, publicKey: null });
  return o;
}

/** An empty per-endpoint schedule means no retries at all: confirmed, as the global one is. */
function requireConfirmedSchedule(input: Partial<EndpointInput>): void {
  if (input.retry_schedule_seconds?.length === 0 && !input.confirm) {
    throw new ValidationError(
      'an empty retry_schedule_seconds means this endpoint gets no retries at all: a failed attempt is final. Confirm to save it, or give null to use the global schedule',
      'retry_schedule_seconds',
      undefined,
      { needsConfirm: true },
    );
  }
}

export type Service = ReturnType<typeof createService>;

function disabledMessage(what: string, ep: Endpoint): string {
  return `${what} cannot be sent while endpoint ${ep.id} is disabled${ep.disabledReason ? ` (${ep.disabledReason})` : ''}; enable the endpoint and its paused deliveries are sent`;
}

export function createService(deps: ServiceDeps) {
  const { pool, tables: t } = deps;
  const urlPolicy = () => ({ allowPrivateTargets: deps.allowPrivateTargets, httpsOnly: deps.settings.current().https_only });
  const nudge = () => deps.nudge?.();

  async function mustGetEndpoint(id: number): Promise<Endpoint> {
    const e = await endpointsSql.getEndpoint(pool, t, id);
    if (!e) throw new NotFoundError(`endpoint ${id} does not exist`);
    return e;
  }

  /**
   * A subscription that matches nothing known (not a catalog type, not a type
   * ever accepted from the outbox, not a wildcard over either) is most often a
   * typo; it is refused with that said, unless confirmed for a type the LMS
   * will send later.
   */
  async function requireKnownSubscriptions(patterns: string[]): Promise<void> {
    const catalog = Object.values(EVENT_CATALOG).flat();
    const exact = patterns.filter((p) => p !== '*' && !p.endsWith('.*') && !catalog.includes(p));
    const seen = await eventsSql.seenEventTypes(pool, t, exact);
    const unknown = exact.filter((p) => !seen.has(p));
    for (const p of patterns.filter((x) => x.endsWith('.*'))) {
      const prefix = p.slice(0, -1);
      if (!catalog.some((c) => c.startsWith(prefix)) && !(await eventsSql.seenEventTypePrefix(pool, t, prefix))) unknown.push(p);
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

  async function mustGetDelivery(id: number) {
    const d = await deliveriesSql.getDelivery(pool, t, id);
    if (!d) throw new NotFoundError(`delivery ${id} does not exist`);
    return (await withWaitingFor([d]))[0]!;
  }

  /** A payload search picks its plan from how common its values are (deliveriesSql.payloadPlan). */
  async function withPlan<F extends { data?: [string, string][]; dataPlan?: 'lookup' | 'walk' }>(f: F): Promise<F> {
    if (!f.data?.length || f.dataPlan) return f;
    return { ...f, dataPlan: await deliveriesSql.payloadPlan(pool, t, f.data) };
  }

  /** Names, for each waiting delivery, the head of its key it waits for. */
  async function withWaitingFor<D extends Delivery>(list: D[]): Promise<D[]> {
    const waiting = list.filter((d) => d.status === 'waiting' && d.orderingKey !== null);
    if (waiting.length === 0) return list;
    const heads = await ordering.headsOf(pool, t, waiting.map((d) => ({ endpointId: d.endpointId, key: d.orderingKey! })));
    return list.map((d) => (d.status === 'waiting' && d.orderingKey !== null ? { ...d, waitingFor: heads.get(ordering.lineId(d.endpointId, d.orderingKey)) ?? null } : d));
  }

  /**
   * Under the endpoint's lock, as every change of a key's head: switching
   * ordering off sends what was waiting now; switching it on applies to
   * deliveries created from then on.
   */
  async function setOrdered(id: number, on: boolean): Promise<void> {
    const released = await retryConflicts(() =>
      withTransaction(pool, async (conn) => {
        const ep = (await endpointsSql.lockEndpoints(conn, t, [id])).get(id);
        if (!ep) return 0;
        await endpointsSql.updateEndpoint(conn, t, id, { ordered: on });
        return on ? 0 : ordering.releaseWaiting(conn, t, id, ep.enabled);
      }),
    );
    if (released > 0) nudge();
  }

  /** Runs fn in a transaction holding the endpoint's lock, then admits the head of `keys` when the endpoint is ordered. */
  async function inLine<T>(endpointId: number, keys: string[] | 'all', fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
    return retryConflicts(() =>
      withTransaction(pool, async (conn) => {
        const ep = (await endpointsSql.lockEndpoints(conn, t, [endpointId])).get(endpointId);
        const out = await fn(conn);
        if (ep?.ordered) await ordering.admitHeads(conn, t, endpointId, ep.enabled, keys);
        return out;
      }),
    );
  }

  return {
    listEndpoints: () => endpointsSql.listEndpoints(pool, t),
    getEndpoint: mustGetEndpoint,

    async createEndpoint(input: EndpointInput): Promise<Endpoint> {
      const url = await validateEndpointUrl(input.url, urlPolicy());
      if (!input.confirm) await requireKnownSubscriptions(input.events);
      requireConfirmedSchedule(input);
      const id = await endpointsSql.insertEndpoint(pool, t, {
        url,
        description: input.description,
        events: input.events,
        enabled: input.enabled,
        secret: input.secret ?? generateSecret(),
        ...endpointOptions(input, null),
      });
      return mustGetEndpoint(id);
    },

    /** Re-enabling resumes the endpoint's paused deliveries unless resumePaused is false. */
    async updateEndpoint(
      id: number,
      patch: Partial<Omit<EndpointInput, 'secret'>>,
      opts: { resumePaused?: boolean } = {},
    ): Promise<{ endpoint: Endpoint; resumed: number }> {
      const before = await mustGetEndpoint(id);
      const url = patch.url === undefined ? undefined : await validateEndpointUrl(patch.url, urlPolicy());
      // Only what changes is checked: an endpoint saved earlier keeps its subscriptions.
      if (!patch.confirm && patch.events) await requireKnownSubscriptions(patch.events.filter((e) => !before.events.includes(e)));
      requireConfirmedSchedule(patch);
      const { ordered, ...options } = endpointOptions(patch, before);
      await endpointsSql.updateEndpoint(pool, t, id, { url, description: patch.description, events: patch.events, enabled: patch.enabled, ...options });
      if (ordered !== undefined && ordered !== before.ordered) await setOrdered(id, ordered);
      let resumed = 0;
      if (patch.enabled === false && before.enabled) {
        await deliveriesSql.pauseForEndpoint(pool, t, id);
        const [notice] = await endpointsSql.endpointNotices(pool, t, [id]);
        const sent = await retryConflicts(() => withTransaction(pool, (conn) => emitOperational(conn, t, [endpointEvent('webhook.endpoint_disabled', notice!)])));
        deps.notify?.(sent);
        nudge();
      }
      if (patch.enabled === true && !before.enabled && opts.resumePaused !== false) {
        resumed = await deliveriesSql.resumeForEndpoint(pool, t, id);
        nudge();
      }
      return { endpoint: await mustGetEndpoint(id), resumed };
    },

    async deleteEndpoint(id: number): Promise<void> {
      await mustGetEndpoint(id);
      // Deliveries first: a pending delivery whose endpoint is gone could never be sent.
      await deliveriesSql.deleteForEndpoint(pool, t, id);
      await endpointsSql.deleteEndpointRow(pool, t, id);
    },

    async rotateSecret(id: number, opts: { secret?: string; grace_hours?: number }): Promise<Endpoint> {
      await mustGetEndpoint(id);
      const grace = opts.grace_hours ?? deps.settings.current().rotation_grace_hours;
      await endpointsSql.rotateSecret(pool, t, id, opts.secret ?? generateSecret(), grace);
      return mustGetEndpoint(id);
    },

    /** Queues a webhook.test event for one endpoint; returns the new delivery's id. */
    async sendTestEvent(id: number): Promise<Delivery> {
      const ep = await mustGetEndpoint(id);
      if (!ep.enabled) throw new ValidationError(`endpoint ${id} is disabled; enable it before sending a test event`, 'enabled');
      const eventId = newEventId();
      const now = new Date();
      const data = JSON.stringify({ endpoint_id: id, message: 'Test event from the LMS webhooks sidecar', sent_at: now.toISOString() });
      const deliveryId = await withTransaction(pool, async (conn) => {
        const pks = await eventsSql.insertEvents(conn, t, [{ eventId, eventType: 'webhook.test', outboxId: null, body: buildEnvelope(eventId, 'webhook.test', now, data), occurredAt: now }]);
        await deliveriesSql.insertDeliveries(conn, t, [{ endpointId: id, eventPk: pks.get(eventId.toLowerCase())!, eventType: 'webhook.test', status: 'pending' }]);
        const [d] = await deliveriesSql.listDeliveries(conn, t, { eventId, limit: 1 });
        return d!.id;
      });
      nudge();
      return mustGetDelivery(deliveryId);
    },

    /** The filter with its payload-search plan chosen: a page that lists and counts probes once, not twice. */
    planSearch: withPlan,
    listDeliveries: async (f: deliveriesSql.DeliveryFilter) => withWaitingFor(await deliveriesSql.listDeliveries(pool, t, await withPlan(f))),
    countDeliveries: async (f: Omit<deliveriesSql.DeliveryFilter, 'limit' | 'beforeId'>, cap: number) => deliveriesSql.countDeliveries(pool, t, await withPlan(f), cap),
    lastResponseLines: (ids: number[]) => deliveriesSql.lastResponseLines(pool, t, ids),

    async getDelivery(id: number): Promise<{ delivery: Delivery & { body: string }; attempts: Attempt[] }> {
      const delivery = await mustGetDelivery(id);
      return { delivery, attempts: await listAttempts(pool, t, id) };
    },

    async replayDelivery(id: number): Promise<Delivery> {
      const d = await mustGetDelivery(id);
      const ep = await mustGetEndpoint(d.endpointId);
      // A replay to a disabled endpoint would only be paused again: say so instead of "queued".
      if (!ep.enabled) throw new ValidationError(disabledMessage(`delivery ${id}`, ep), 'id');
      const keys = d.orderingKey === null ? [] : [d.orderingKey];
      if (!(await inLine(ep.id, keys, (conn) => deliveriesSql.replayDelivery(conn, t, id)))) {
        throw new ValidationError(`delivery ${id} is being sent right now; replay it when this attempt has finished`, 'id');
      }
      nudge();
      return mustGetDelivery(id);
    },

    /**
     * Ends a delivery that is not being sent as failed (replayable later).
     * For the head of an ordered key, this releases the key: the next
     * delivery of that key goes.
     */
    async skipDelivery(id: number): Promise<{ skipped: Delivery; next: number | null }> {
      const d = await mustGetDelivery(id);
      if (d.status === 'waiting') {
        throw new ValidationError(
          `delivery ${id} is waiting for delivery ${d.waitingFor ?? '?'} (ordering key ${JSON.stringify(d.orderingKey)}); skip that one to release the key`,
          'id',
        );
      }
      if (d.status === 'succeeded' || d.status === 'failed') throw new ValidationError(`delivery ${id} has already ${d.status}; only a pending or paused delivery can be skipped`, 'id');
      const keys = d.orderingKey === null ? [] : [d.orderingKey];
      if (!(await inLine(d.endpointId, keys, (conn) => deliveriesSql.skipDelivery(conn, t, id)))) {
        throw new ValidationError(`delivery ${id} is being sent right now; skip it when this attempt has finished`, 'id');
      }
      let next: number | null = null;
      if (d.orderingKey !== null) {
        next = (await ordering.headsOf(pool, t, [{ endpointId: d.endpointId, key: d.orderingKey }])).get(ordering.lineId(d.endpointId, d.orderingKey)) ?? null;
        nudge();
      }
      return { skipped: await mustGetDelivery(id), next };
    },

    /** Attempts per hour or day, successes, failures, latency bands: GET /api/endpoints/:id/stats and the endpoint page. */
    async endpointStats(id: number, days: number) {
      await mustGetEndpoint(id);
      return stats.endpointStats(pool, t, id, days);
    },

    /** What the top of an endpoint's page says about its health now. */
    endpointHealth: (id: number) => stats.endpointHealthNow(pool, t, id),

    /** The catalog with descriptions and examples, and the other types accepted from the outbox. */
    async eventTypes(): Promise<{ catalog: readonly CatalogEntry[]; seen: string[] }> {
      return { catalog: CATALOG, seen: await eventsSql.otherEventTypes(pool, t, CATALOG.map((c) => c.type)) };
    },

    /** Whether the outbox has ordering_key (an LMS-made outbox may not): ordered endpoints need it. */
    orderingAvailable: () => outboxHasOrderingKey(pool, t),

    /** Queues the endpoint's failed deliveries created since `since`; returns how many. */
    async replayFailedSince(endpointId: number, since: Date): Promise<number> {
      const ep = await mustGetEndpoint(endpointId);
      if (!ep.enabled) throw new ValidationError(disabledMessage(`the failed deliveries of endpoint ${endpointId}`, ep), 'since');
      if (since.getTime() > Date.now()) throw new ValidationError(`since is in the future (${since.toISOString()}); no delivery was created after it`, 'since');
      const n = await inLine(endpointId, 'all', (conn) => deliveriesSql.replayFailedSince(conn, t, endpointId, since));
      if (n > 0) nudge();
      return n;
    },

    /**
     * Sends this endpoint the events recorded in [since, until) that match its
     * subscriptions (narrowed by `events`) and filter and that it has no
     * delivery of, with their original ids. Batches of 500 under the
     * endpoint's lock, so two backfills at once never queue an event twice.
     */
    async backfill(endpointId: number, req: { since: Date; until?: Date; events?: string[] }): Promise<{ queued: number; note: string | null }> {
      const ep = await mustGetEndpoint(endpointId);
      if (!ep.enabled) throw new ValidationError(disabledMessage(`a backfill to endpoint ${endpointId}`, ep), 'since');
      const until = req.until ?? new Date();
      if (req.since.getTime() > Date.now()) throw new ValidationError(`since is in the future (${req.since.toISOString()}); no event was recorded after it`, 'since');
      const kept = new Date(Date.now() - deps.settings.current().retention_days * 86400_000);
      const note =
        req.since < kept
          ? `events recorded before ${kept.toISOString()} may already be deleted (retention_days is ${deps.settings.current().retention_days}); what is left of them was queued`
          : null;
      let queued = 0;
      let afterPk = 0;
      for (;;) {
        const batch = await deliveriesSql.eventsWithoutDelivery(pool, t, endpointId, { since: req.since, until, afterPk, limit: 500 });
        if (batch.length === 0) break;
        afterPk = batch[batch.length - 1]!.pk;
        const chosen = batch.filter(
          (ev) => ev.eventType !== 'webhook.test' && (!req.events || subscribed(req.events, ev.eventType)) && endpointsFor([ep], ev.eventType, ev.body).length === 1,
        );
        if (chosen.length === 0) continue;
        queued += await retryConflicts(() =>
          withTransaction(pool, async (conn) => {
            const locked = (await endpointsSql.lockEndpoints(conn, t, [endpointId])).get(endpointId);
            if (!locked) return 0;
            // Rows another backfill queued meanwhile are left out.
            const still = new Set((await deliveriesSql.eventsWithoutDelivery(conn, t, endpointId, { since: req.since, until, afterPk: chosen[0]!.pk - 1, limit: 500 })).map((e) => e.pk));
            const fresh = chosen.filter((ev) => still.has(ev.pk));
            const keyed = (ev: deliveriesSql.UnsentEvent) => locked.ordered && ev.orderingKey !== null && ev.outboxId !== null;
            await deliveriesSql.insertDeliveries(
              conn,
              t,
              fresh.map((ev) =>
                keyed(ev)
                  ? { endpointId, eventPk: ev.pk, eventType: ev.eventType, status: 'waiting' as const, orderingKey: ev.orderingKey, seq: ev.outboxId }
                  : { endpointId, eventPk: ev.pk, eventType: ev.eventType, status: locked.enabled ? ('pending' as const) : ('paused' as const) },
              ),
            );
            const keys = [...new Set(fresh.filter(keyed).map((ev) => ev.orderingKey!))];
            await ordering.admitHeads(conn, t, endpointId, locked.enabled, keys);
            return fresh.length;
          }),
        );
      }
      if (queued > 0) nudge();
      return { queued, note };
    },

    getSettings: async (): Promise<Settings> => {
      await deps.settings.refreshIfStale();
      return deps.settings.current();
    },
    /**
     * Saves settings. A change that silently switches delivery off for
     * someone is refused with what it would do, unless confirmed: an empty
     * retry schedule (no retries at all), and HTTPS only while endpoints use
     * http:// (their deliveries would fail as blocked).
     */
    async updateSettings(input: Partial<Settings> & { confirm?: boolean }): Promise<Settings> {
      const { confirm, ...patch } = input;
      if (Object.keys(patch).length === 0) throw new ValidationError('nothing to change: send at least one setting', 'body');
      await deps.settings.refreshIfStale();
      const now = deps.settings.current();
      if (!confirm) {
        const warnings: { field: string; message: string }[] = [];
        if (patch.retry_schedule_seconds?.length === 0 && now.retry_schedule_seconds.length > 0) {
          warnings.push({
            field: 'retry_schedule_seconds',
            message: 'an empty retry schedule means a failed delivery is never retried: it fails for good at its first error. Confirm to save it',
          });
        }
        if (patch.https_only === true && !now.https_only) {
          const http = (await endpointsSql.listEndpoints(pool, t)).filter((e) => e.url.startsWith('http:'));
          if (http.length) {
            warnings.push({
              field: 'https_only',
              message: `HTTPS only would block ${http.length} endpoint${http.length === 1 ? '' : 's'} that use${http.length === 1 ? 's' : ''} http:// (${http.slice(0, 5).map((e) => `#${e.id} ${e.url}`).join(', ')}${http.length > 5 ? ', …' : ''}): their deliveries would fail as blocked. Change their URLs to https:// first, or confirm to save it`,
            });
          }
        }
        if (warnings.length) throw new ValidationError(warnings.map((w) => w.message).join('; '), warnings[0]!.field, warnings, { needsConfirm: true });
      }
      return deps.settings.update(patch);
    },
  };
}
