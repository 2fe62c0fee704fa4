/**
 * What operators can do, shared by the JSON API and the admin pages: routes
 * validate input, call one of these, and render the result.
 */
import type { Pool } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import * as endpointsSql from '../db/endpoints.js';
import * as deliveriesSql from '../db/deliveries.js';
import { listAttempts } from '../db/attempts.js';
import { insertEvents } from '../db/events.js';
import { withTransaction } from '../db/pool.js';
import { generateSecret } from '../delivery/sign.js';
import { buildEnvelope, newEventId } from '../delivery/fanout.js';
import { validateEndpointUrl } from '../delivery/targets.js';
import type { SettingsStore } from '../delivery/settingsStore.js';
import { NotFoundError, ValidationError } from '../errors.js';
import type { Attempt, Delivery, Endpoint, Settings } from '../types.js';

export interface ServiceDeps {
  pool: Pool;
  tables: Tables;
  settings: SettingsStore;
  allowPrivateTargets: boolean;
  /** Called after something became due, so this process picks it up now rather than at the next tick. */
  nudge?: () => void;
}

export interface EndpointInput {
  url: string;
  events: string[];
  description: string;
  enabled: boolean;
  secret?: string;
}

export type Service = ReturnType<typeof createService>;

export function createService(deps: ServiceDeps) {
  const { pool, tables: t } = deps;
  const urlPolicy = () => ({ allowPrivateTargets: deps.allowPrivateTargets, httpsOnly: deps.settings.current().https_only });
  const nudge = () => deps.nudge?.();

  async function mustGetEndpoint(id: number): Promise<Endpoint> {
    const e = await endpointsSql.getEndpoint(pool, t, id);
    if (!e) throw new NotFoundError(`endpoint ${id} does not exist`);
    return e;
  }

  async function mustGetDelivery(id: number) {
    const d = await deliveriesSql.getDelivery(pool, t, id);
    if (!d) throw new NotFoundError(`delivery ${id} does not exist`);
    return d;
  }

  return {
    listEndpoints: () => endpointsSql.listEndpoints(pool, t),
    getEndpoint: mustGetEndpoint,

    async createEndpoint(input: EndpointInput): Promise<Endpoint> {
      const url = await validateEndpointUrl(input.url, urlPolicy());
      const id = await endpointsSql.insertEndpoint(pool, t, { ...input, url, secret: input.secret ?? generateSecret() });
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
      await endpointsSql.updateEndpoint(pool, t, id, { ...patch, url });
      let resumed = 0;
      if (patch.enabled === false && before.enabled) await deliveriesSql.pauseForEndpoint(pool, t, id);
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
        const pks = await insertEvents(conn, t, [{ eventId, eventType: 'webhook.test', outboxId: null, body: buildEnvelope(eventId, 'webhook.test', now, data), occurredAt: now }]);
        await deliveriesSql.insertDeliveries(conn, t, [{ endpointId: id, eventPk: pks.get(eventId.toLowerCase())!, eventType: 'webhook.test', status: 'pending' }]);
        const [d] = await deliveriesSql.listDeliveries(conn, t, { eventId, limit: 1 });
        return d!.id;
      });
      nudge();
      return mustGetDelivery(deliveryId);
    },

    listDeliveries: (f: deliveriesSql.DeliveryFilter) => deliveriesSql.listDeliveries(pool, t, f),

    async getDelivery(id: number): Promise<{ delivery: Delivery & { body: string }; attempts: Attempt[] }> {
      const delivery = await mustGetDelivery(id);
      return { delivery, attempts: await listAttempts(pool, t, id) };
    },

    async replayDelivery(id: number): Promise<Delivery> {
      await mustGetDelivery(id);
      if (!(await deliveriesSql.replayDelivery(pool, t, id))) {
        throw new ValidationError(`delivery ${id} is being sent right now; replay it when this attempt has finished`, 'id');
      }
      nudge();
      return mustGetDelivery(id);
    },

    async replayFailedSince(endpointId: number, since: Date): Promise<number> {
      await mustGetEndpoint(endpointId);
      const n = await deliveriesSql.replayFailedSince(pool, t, endpointId, since);
      if (n > 0) nudge();
      return n;
    },

    getSettings: async (): Promise<Settings> => {
      await deps.settings.refreshIfStale();
      return deps.settings.current();
    },
    updateSettings: (patch: Partial<Settings>) => deps.settings.update(patch),
  };
}
