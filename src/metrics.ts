/**
 * Prometheus metrics (prom-client) for GET /metrics. Counters and the latency
 * histogram are fed by the dispatcher as things happen; the gauges read the
 * database when scraped (one query set per scrape, cached for a second).
 * Labels carry endpoint ids, never URLs or secrets.
 */
import { conflictsRetried } from './db/conflicts.js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { queriesIssued } from './db/pool.js';
import type { Pool } from 'mysql2/promise';
import type { Tables } from './db/tables.js';
import { queueSnapshot, type QueueSnapshot } from './db/stats.js';
import { countWaiting } from './db/outbox.js';
import { transformPoolStats } from './delivery/transform.js';

type Snapshot = QueueSnapshot & { outboxWaiting: number };

export interface DeliveryObserver {
  attempt(endpointId: number, ok: boolean, durationMs: number): void;
  completed(endpointId: number, outcome: 'succeeded' | 'retry' | 'failed' | 'paused' | 'cancelled'): void;
  rejected(count: number): void;
  /** An accepted event whose data did not fit its catalog type's schema (delivered anyway). */
  schemaMismatch?(eventType: string): void;
}

export interface Metrics extends DeliveryObserver {
  registry: Registry;
  /** The observer of one site of a network: the same figures, labelled `blog_id`. */
  forSite(blogId: number): DeliveryObserver;
}

/** A site whose queue the gauges read: the one site served (blogId null), or each site of a network. */
export interface MeteredSite {
  blogId: number | null;
  tables: Tables;
}

/**
 * `sites` is read at every scrape. In network mode (`network` true) every
 * per-site figure carries `blog_id` (never a domain: labels stay few and
 * stable when a site is renamed); one site served keeps the labels it had.
 */
export function createMetrics(pool: Pool, sites: () => readonly MeteredSite[], network = false): Metrics {
  const registry = new Registry();
  const siteLabel = network ? (['blog_id'] as const) : ([] as const);
  collectDefaultMetrics({ register: registry });

  const deliveries = new Counter({
    name: 'webhooks_deliveries_total',
    help: 'Delivery attempts by what they led to: succeeded, retry (scheduled again), failed (retries used up), paused (endpoint disabled)',
    labelNames: ['outcome', 'endpoint_id', ...siteLabel],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'webhooks_attempt_duration_seconds',
    help: 'Time from sending a request to its outcome',
    labelNames: ['result', ...siteLabel],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'webhooks_outbox_rows_rejected_total',
    help: 'Outbox rows this process rejected (bad JSON, too large, empty type, reused event_id)',
    labelNames: [...siteLabel],
    registers: [registry],
  });

  const mismatches = new Counter({
    name: 'webhooks_schema_mismatches_total',
    help: "Accepted events whose data did not fit their catalog type's JSON Schema (delivered anyway; noted on the outbox row)",
    labelNames: ['event_type', ...siteLabel],
    registers: [registry],
  });

  type SiteSnapshot = { labels: Record<string, string>; snapshot: Snapshot };
  let cached: { at: number; value: Promise<SiteSnapshot[]> } | null = null;
  const snapshot = (): Promise<SiteSnapshot[]> => {
    if (cached && Date.now() - cached.at < 1000) return cached.value;
    const value = Promise.all(
      sites().map(async ({ blogId, tables: t }): Promise<SiteSnapshot> => {
        const [queue, outboxWaiting] = await Promise.all([queueSnapshot(pool, t), countWaiting(pool, t)]);
        const labels: Record<string, string> = blogId === null ? {} : { blog_id: String(blogId) };
        return { labels, snapshot: { ...queue, outboxWaiting } };
      }),
    );
    cached = { at: Date.now(), value };
    value.catch(() => (cached = null));
    return value;
  };

  const gauge = (name: string, help: string, pick: (s: Snapshot) => number) =>
    new Gauge({
      name,
      help,
      labelNames: [...siteLabel],
      registers: [registry],
      async collect() {
        // A site that stopped being served leaves no stale series behind.
        this.reset();
        for (const s of await snapshot()) this.set(s.labels, pick(s.snapshot));
      },
    });
  gauge('webhooks_deliveries_due', 'Pending deliveries whose time has come and that nobody is sending', (s) => s.due);
  gauge(
    'webhooks_deliveries_pending',
    'Deliveries not finished yet (due, scheduled for a retry, or being sent)',
    (s) => s.pending,
  );
  gauge('webhooks_deliveries_failed', 'Deliveries whose retries are used up (replayable)', (s) => s.failed);
  gauge('webhooks_deliveries_paused', 'Deliveries held because their endpoint is disabled', (s) => s.paused);
  gauge('webhooks_oldest_due_age_seconds', 'How long the oldest due delivery has been waiting', (s) =>
    s.due > 0 ? s.oldestDueSeconds : 0,
  );
  gauge('webhooks_outbox_rows_waiting', 'Outbox rows not fanned out yet', (s) => s.outboxWaiting);

  new Gauge({
    name: 'webhooks_db_queries_total',
    help: 'Statements this process has sent to the database (including BEGIN/COMMIT)',
    registers: [registry],
    collect() {
      this.set(queriesIssued(pool));
    },
  });

  new Gauge({
    name: 'webhooks_db_conflicts_retried_total',
    help: 'Write conflicts this process lost and retried (another replica, or another node of a Galera cluster, won)',
    registers: [registry],
    collect() {
      this.set(conflictsRetried());
    },
  });

  new Gauge({
    name: 'webhooks_transform_workers',
    help: "The transformation pool's worker threads: started (state=started) and running a job (state=busy)",
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const s = transformPoolStats();
      this.set({ state: 'started' }, s.workers);
      this.set({ state: 'busy' }, s.busy);
    },
  });

  new Gauge({
    name: 'webhooks_transform_stops_total',
    help: 'Transformation runs ended from outside (past their CPU or wall-clock limit; the worker was replaced)',
    registers: [registry],
    collect() {
      this.set(transformPoolStats().outsideStops);
    },
  });

  const observer = (site: Record<string, string>): DeliveryObserver => ({
    attempt(_endpointId, ok, durationMs) {
      latency.observe({ result: ok ? 'success' : 'failure', ...site }, durationMs / 1000);
    },
    completed(endpointId, outcome) {
      deliveries.inc({ outcome, endpoint_id: String(endpointId), ...site });
    },
    rejected(count) {
      rejected.inc(site, count);
    },
    schemaMismatch(eventType) {
      mismatches.inc({ event_type: eventType, ...site });
    },
  });
  return {
    registry,
    ...observer({}),
    forSite: (blogId) => observer({ blog_id: String(blogId) }),
  };
}
