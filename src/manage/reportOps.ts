/**
 * What the admin pages show beside the operator's own objects: the last 24
 * hours' figures, each endpoint's health, endpoints in trouble, and the
 * outbox as the LMS wrote it. Read only.
 */
import * as statsSql from '../db/stats.js';
import * as outboxSql from '../db/outbox.js';
import { troubledEndpoints } from '../db/endpoints.js';
import type { ServiceContext } from './context.js';

export { PAYLOAD_SHOWN_CHARS } from '../db/outbox.js';
export type { StatsBucket } from '../db/stats.js';

export function reportOps(ctx: ServiceContext) {
  const { pool, t } = ctx;
  return {
    countsByStatus24h: () => statsSql.countsByStatus24h(pool, t),
    queueNow: () => statsSql.queueNow(pool, t),
    hourly24h: () => statsSql.hourly24h(pool, t),
    latency24h: () => statsSql.latency24h(pool, t),
    endpointHealth24h: () => statsSql.endpointHealth24h(pool, t),
    /** Endpoints failing or disabled, for the banner on every signed-in page. */
    troubledEndpoints: () => troubledEndpoints(pool, t),
    listOutbox: (opts: { beforeId?: number; rejectedOnly?: boolean; limit: number }) =>
      outboxSql.listOutbox(pool, t, opts),
    getOutboxRow: (id: number) => outboxSql.getOutboxRow(pool, t, id),
  };
}
