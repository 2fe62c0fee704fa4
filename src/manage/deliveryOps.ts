/**
 * Operator actions on deliveries: the log and its payload search, replay,
 * skip, and backfill.
 */
import * as endpointsSql from '../db/endpoints.js';
import * as deliveriesSql from '../db/deliveries.js';
import * as deliveryActionsSql from '../db/deliveryActions.js';
import * as deliveryLogSql from '../db/deliveryLog.js';
import { listAttempts } from '../db/attempts.js';
import { withTransaction } from '../db/transaction.js';
import * as ordering from '../db/ordering.js';
import { retryConflicts } from '../db/conflicts.js';
import { endpointsFor } from '../delivery/fanout.js';
import { subscribed } from '../delivery/subscriptions.js';
import { ValidationError } from '../errors.js';
import type { Attempt, Delivery } from '../types.js';
import { disabledMessage, type ServiceContext } from './context.js';

export function deliveryOps(ctx: ServiceContext) {
  const { pool, t } = ctx;
  /** A payload search picks its plan from how common its values are (deliveryLogSql.payloadPlan). */
  async function withPlan<F extends { data?: [string, string][]; dataPlan?: 'lookup' | 'walk' }>(f: F): Promise<F> {
    if (!f.data?.length || f.dataPlan) return f;
    return { ...f, dataPlan: await deliveryLogSql.payloadPlan(pool, t, f.data) };
  }

  return {
    /** The filter with its payload-search plan chosen: a page that lists and counts probes once, not twice. */
    planSearch: withPlan,
    listDeliveries: async (f: deliveryLogSql.DeliveryFilter) =>
      ctx.withWaitingFor(await deliveryLogSql.listDeliveries(pool, t, await withPlan(f))),
    countDeliveries: async (f: Omit<deliveryLogSql.DeliveryFilter, 'limit' | 'beforeId'>, cap: number) =>
      deliveryLogSql.countDeliveries(pool, t, await withPlan(f), cap),
    lastResponseLines: (ids: number[]) => deliveryLogSql.lastResponseLines(pool, t, ids),

    async getDelivery(id: number): Promise<{ delivery: Delivery & { body: string }; attempts: Attempt[] }> {
      const delivery = await ctx.mustGetDelivery(id);
      return { delivery, attempts: await listAttempts(pool, t, id) };
    },

    async replayDelivery(id: number): Promise<Delivery> {
      const d = await ctx.mustGetDelivery(id);
      const ep = await ctx.mustGetEndpoint(d.endpointId);
      // A replay to a disabled endpoint would only be paused again: say so instead of "queued".
      if (!ep.enabled) throw new ValidationError(disabledMessage(`delivery ${id}`, ep), 'id');
      const keys = d.orderingKey === null ? [] : [d.orderingKey];
      if (!(await ctx.inLine(ep.id, keys, (conn) => deliveryActionsSql.replayDelivery(conn, t, id)))) {
        throw new ValidationError(
          `delivery ${id} is being sent right now; replay it when this attempt has finished`,
          'id',
        );
      }
      ctx.nudge();
      return ctx.mustGetDelivery(id);
    },

    /**
     * Ends a delivery that is not being sent as failed (replayable later).
     * For the head of an ordered key, this releases the key: the next
     * delivery of that key goes.
     */
    async skipDelivery(id: number): Promise<{ skipped: Delivery; next: number | null }> {
      const d = await ctx.mustGetDelivery(id);
      if (d.status === 'waiting') {
        throw new ValidationError(
          `delivery ${id} is waiting for delivery ${d.waitingFor ?? '?'} (ordering key ${JSON.stringify(d.orderingKey)}); skip that one to release the key`,
          'id',
        );
      }
      if (d.status === 'succeeded' || d.status === 'failed' || d.status === 'cancelled')
        throw new ValidationError(
          `delivery ${id} has already ${d.status === 'cancelled' ? 'been cancelled by its transformation' : d.status}; only a pending or paused delivery can be skipped`,
          'id',
        );
      const keys = d.orderingKey === null ? [] : [d.orderingKey];
      if (!(await ctx.inLine(d.endpointId, keys, (conn) => deliveryActionsSql.skipDelivery(conn, t, id)))) {
        throw new ValidationError(
          `delivery ${id} is being sent right now; skip it when this attempt has finished`,
          'id',
        );
      }
      let next: number | null = null;
      if (d.orderingKey !== null) {
        next =
          (await ordering.headsOf(pool, t, [{ endpointId: d.endpointId, key: d.orderingKey }])).get(
            ordering.lineId(d.endpointId, d.orderingKey),
          ) ?? null;
        ctx.nudge();
      }
      return { skipped: await ctx.mustGetDelivery(id), next };
    },

    /** Queues the endpoint's failed deliveries created since `since`; returns how many. */
    async replayFailedSince(endpointId: number, since: Date): Promise<number> {
      const ep = await ctx.mustGetEndpoint(endpointId);
      if (!ep.enabled)
        throw new ValidationError(disabledMessage(`the failed deliveries of endpoint ${endpointId}`, ep), 'since');
      if (since.getTime() > Date.now())
        throw new ValidationError(
          `since is in the future (${since.toISOString()}); no delivery was created after it`,
          'since',
        );
      const n = await ctx.inLine(endpointId, 'all', (conn) =>
        deliveryActionsSql.replayFailedSince(conn, t, endpointId, since),
      );
      if (n > 0) ctx.nudge();
      return n;
    },

    backfill: (endpointId: number, req: BackfillRequest) => backfill(ctx, endpointId, req),
  };
}

export interface BackfillRequest {
  since: Date;
  until?: Date;
  events?: string[];
}

/**
 * Sends this endpoint the events recorded in [since, until) that match its
 * subscriptions (narrowed by `events`) and filter and that it has no
 * delivery of, with their original ids. Batches of 500 under the
 * endpoint's lock, so two backfills at once never queue an event twice.
 */
async function backfill(
  ctx: ServiceContext,
  endpointId: number,
  req: BackfillRequest,
): Promise<{ queued: number; note: string | null }> {
  const { pool, t } = ctx;
  const ep = await ctx.mustGetEndpoint(endpointId);
  if (!ep.enabled) throw new ValidationError(disabledMessage(`a backfill to endpoint ${endpointId}`, ep), 'since');
  const until = req.until ?? new Date();
  if (req.since.getTime() > Date.now())
    throw new ValidationError(
      `since is in the future (${req.since.toISOString()}); no event was recorded after it`,
      'since',
    );
  const kept = new Date(Date.now() - ctx.deps.settings.current().retentionDays * 86400_000);
  const note =
    req.since < kept
      ? `events recorded before ${kept.toISOString()} may already be deleted (retention_days is ${ctx.deps.settings.current().retentionDays}); what is left of them was queued`
      : null;
  let queued = 0;
  let afterPk = 0;
  for (;;) {
    const batch = await deliveriesSql.eventsWithoutDelivery(pool, t, endpointId, {
      since: req.since,
      until,
      afterPk,
      limit: 500,
    });
    if (batch.length === 0) break;
    afterPk = batch[batch.length - 1]!.pk;
    const chosen = batch.filter(
      (ev) =>
        ev.eventType !== 'webhook.test' &&
        (!req.events || subscribed(req.events, ev.eventType)) &&
        endpointsFor([ep], ev.eventType, ev.body).length === 1,
    );
    if (chosen.length === 0) continue;
    queued += await retryConflicts(() =>
      withTransaction(pool, async (conn) => {
        const locked = (await endpointsSql.lockEndpoints(conn, t, [endpointId])).get(endpointId);
        if (!locked) return 0;
        // Rows another backfill queued meanwhile are left out.
        const still = new Set(
          (
            await deliveriesSql.eventsWithoutDelivery(conn, t, endpointId, {
              since: req.since,
              until,
              afterPk: chosen[0]!.pk - 1,
              limit: 500,
            })
          ).map((e) => e.pk),
        );
        const fresh = chosen.filter((ev) => still.has(ev.pk));
        const keyed = (ev: deliveriesSql.UnsentEvent) =>
          locked.ordered && ev.orderingKey !== null && ev.outboxId !== null;
        await deliveriesSql.insertDeliveries(
          conn,
          t,
          fresh.map((ev) =>
            keyed(ev)
              ? {
                  endpointId,
                  eventPk: ev.pk,
                  eventType: ev.eventType,
                  status: 'waiting' as const,
                  orderingKey: ev.orderingKey,
                  seq: ev.outboxId,
                }
              : {
                  endpointId,
                  eventPk: ev.pk,
                  eventType: ev.eventType,
                  status: locked.enabled ? ('pending' as const) : ('paused' as const),
                },
          ),
        );
        const keys = [...new Set(fresh.filter(keyed).map((ev) => ev.orderingKey!))];
        await ordering.admitHeads(conn, t, endpointId, locked.enabled, keys);
        return fresh.length;
      }),
    );
  }
  if (queued > 0) ctx.nudge();
  return { queued, note };
}
