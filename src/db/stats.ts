/**
 * Read-only figures for the dashboard and the endpoint list. Each query is
 * bounded: a 24 h range on an indexed created_at, or the last N rows by id.
 */
import type { Queryable } from './sql.js';
import type { Tables } from './tables.js';
import { rows, toDate } from './sql.js';

export interface StatusCounts {
  pending: number;
  /** Held behind an earlier delivery of the same ordering key. */
  waiting: number;
  succeeded: number;
  failed: number;
  paused: number;
}

export async function countsByStatus24h(conn: Queryable, t: Tables): Promise<StatusCounts> {
  const r = await rows(
    conn,
    `SELECT status, COUNT(*) AS n FROM ${t.deliveries} WHERE created_at >= NOW(3) - INTERVAL 1 DAY GROUP BY status`,
  );
  const out: StatusCounts = { pending: 0, waiting: 0, succeeded: 0, failed: 0, paused: 0 };
  for (const x of r) if (String(x.status) in out) out[String(x.status) as keyof StatusCounts] = Number(x.n);
  return out;
}

/** Per hour for the last 24 h: [{hour: Date, succeeded, failed}] oldest first, gaps filled. */
export async function hourly24h(
  conn: Queryable,
  t: Tables,
  now = new Date(),
): Promise<{ hour: Date; succeeded: number; other: number }[]> {
  const r = await rows(
    conn,
    `SELECT DATE_FORMAT(created_at, '%Y-%m-%d %H:00:00') AS h, SUM(status = 'succeeded') AS ok, SUM(status <> 'succeeded') AS other
       FROM ${t.deliveries} WHERE created_at >= NOW(3) - INTERVAL 1 DAY GROUP BY h`,
  );
  const byHour = new Map(r.map((x) => [String(x.h), { ok: Number(x.ok), other: Number(x.other) }]));
  const out: { hour: Date; succeeded: number; other: number }[] = [];
  const top = new Date(now);
  top.setUTCMinutes(0, 0, 0);
  for (let i = 23; i >= 0; i--) {
    const h = new Date(top.getTime() - i * 3600_000);
    const key = h.toISOString().slice(0, 13).replace('T', ' ') + ':00:00';
    const v = byHour.get(key);
    out.push({ hour: h, succeeded: v?.ok ?? 0, other: v?.other ?? 0 });
  }
  return out;
}

/** Latency percentiles over the most recent attempts (at most `sample`, last 24 h). */
export async function latency24h(
  conn: Queryable,
  t: Tables,
  sample = 2000,
): Promise<{ p50: number | null; p95: number | null; n: number }> {
  const r = await rows(
    conn,
    `SELECT duration_ms FROM (SELECT duration_ms, started_at FROM ${t.attempts} ORDER BY id DESC LIMIT ?) x
      WHERE started_at >= NOW(3) - INTERVAL 1 DAY`,
    [sample],
  );
  const v = r.map((x) => Number(x.duration_ms)).sort((a, b) => a - b);
  const q = (p: number) => (v.length ? v[Math.min(v.length - 1, Math.floor(p * v.length))]! : null);
  return { p50: q(0.5), p95: q(0.95), n: v.length };
}

export interface EndpointHealth {
  total: number;
  succeeded: number;
  lastStatus: string | null;
  lastCode: number | null;
}

export async function endpointHealth24h(conn: Queryable, t: Tables): Promise<Map<number, EndpointHealth>> {
  const counts = await rows(
    conn,
    `SELECT endpoint_id, COUNT(*) AS n, SUM(status = 'succeeded') AS ok FROM ${t.deliveries}
      WHERE created_at >= NOW(3) - INTERVAL 1 DAY GROUP BY endpoint_id`,
  );
  const last = await rows(
    conn,
    `SELECT d.endpoint_id, d.status, d.last_status_code FROM ${t.deliveries} d
       JOIN (SELECT endpoint_id, MAX(id) AS id FROM ${t.deliveries} WHERE last_attempt_at IS NOT NULL AND created_at >= NOW(3) - INTERVAL 1 DAY GROUP BY endpoint_id) m
         ON m.id = d.id`,
  );
  const out = new Map<number, EndpointHealth>();
  for (const c of counts)
    out.set(Number(c.endpoint_id), { total: Number(c.n), succeeded: Number(c.ok), lastStatus: null, lastCode: null });
  for (const l of last) {
    const h = out.get(Number(l.endpoint_id));
    if (h) {
      h.lastStatus = String(l.status);
      h.lastCode = l.last_status_code === null ? null : Number(l.last_status_code);
    }
  }
  return out;
}

export interface QueueSnapshot {
  /** Pending, due, and not being sent. */
  due: number;
  pending: number;
  failed: number;
  paused: number;
  oldestDueSeconds: number;
}

/** The delivery queue right now, for the /metrics gauges: two indexed scans on idx_due / idx_status. */
export async function queueSnapshot(conn: Queryable, t: Tables): Promise<QueueSnapshot> {
  const [d] = await rows(
    conn,
    `SELECT SUM(next_attempt_at <= NOW(3) AND claim_token IS NULL) AS due, COUNT(*) AS pending,
            COALESCE(TIMESTAMPDIFF(MICROSECOND, MIN(IF(claim_token IS NULL, next_attempt_at, NULL)), NOW(3)) / 1e6, 0) AS oldest
       FROM ${t.deliveries} WHERE status = 'pending'`,
  );
  const done = await rows(
    conn,
    `SELECT status, COUNT(*) AS n FROM ${t.deliveries} WHERE status IN ('failed', 'paused') GROUP BY status`,
  );
  const count = (status: string) => Number(done.find((x) => x.status === status)?.n ?? 0);
  return {
    due: Number(d?.due ?? 0),
    pending: Number(d?.pending ?? 0),
    failed: count('failed'),
    paused: count('paused'),
    oldestDueSeconds: Math.max(0, Number(d?.oldest ?? 0)),
  };
}

/** Latency bands (upper edges, ms): percentiles are reported as the band they fall in. */
export const LATENCY_BANDS_MS = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 120000] as const;

export interface StatsBucket {
  start: Date;
  attempts: number;
  successes: number;
  failures: number;
  /** Upper edge of the latency band holding the median / 95th percentile attempt (null without attempts). */
  p50Ms: number | null;
  p95Ms: number | null;
}

/**
 * One endpoint's attempts per hour (days <= 2) or per day, oldest first, gaps
 * filled: counted in SQL by time bucket and latency band, so a busy endpoint
 * costs one grouped scan, not its rows in memory. Percentiles are the band
 * edge at or above them (10, 25, 50, 100, 250 ms …), which is what a chart
 * and an alert threshold need.
 */
export async function endpointStats(
  conn: Queryable,
  t: Tables,
  endpointId: number,
  days: number,
  now = new Date(),
): Promise<{ unit: 'hour' | 'day'; buckets: StatsBucket[] }> {
  const unit = days <= 2 ? 'hour' : 'day';
  const stepMs = unit === 'hour' ? 3600_000 : 86_400_000;
  const end = Math.floor(now.getTime() / stepMs) * stepMs + stepMs;
  const start = end - Math.ceil((days * 86_400_000) / stepMs) * stepMs;
  const band = `CASE ${LATENCY_BANDS_MS.map((b, i) => `WHEN a.duration_ms <= ${b} THEN ${i}`).join(' ')} ELSE ${LATENCY_BANDS_MS.length} END`;
  const r = await rows(
    conn,
    `SELECT FLOOR(TIMESTAMPDIFF(SECOND, ?, a.started_at) / ?) AS b, ${band} AS band,
            COUNT(*) AS n, SUM(a.outcome = 'success') AS ok
       FROM ${t.attempts} a JOIN ${t.deliveries} d ON d.id = a.delivery_id
      WHERE d.endpoint_id = ? AND a.started_at >= ?
      GROUP BY b, band`,
    [new Date(start), stepMs / 1000, endpointId, new Date(start)],
  );
  const count = Math.round((end - start) / stepMs);
  const bands = Array.from({ length: count }, () => new Array<number>(LATENCY_BANDS_MS.length + 1).fill(0));
  const ok = new Array<number>(count).fill(0);
  for (const x of r) {
    const i = Number(x.b);
    if (i < 0 || i >= count) continue;
    const row = bands[i]!;
    row[Number(x.band)] = (row[Number(x.band)] ?? 0) + Number(x.n);
    ok[i] = (ok[i] ?? 0) + Number(x.ok);
  }
  const edge = (counts: number[], q: number): number | null => {
    const total = counts.reduce((a, b) => a + b, 0);
    if (total === 0) return null;
    let seen = 0;
    for (const [i, n] of counts.entries()) {
      seen += n;
      if (seen >= q * total) return LATENCY_BANDS_MS[i] ?? LATENCY_BANDS_MS[LATENCY_BANDS_MS.length - 1]!;
    }
    return null;
  };
  const buckets = bands.map((counts, i) => {
    const attempts = counts.reduce((a, b) => a + b, 0);
    return {
      start: new Date(start + i * stepMs),
      attempts,
      successes: ok[i]!,
      failures: attempts - ok[i]!,
      p50Ms: edge(counts, 0.5),
      p95Ms: edge(counts, 0.95),
    };
  });
  return { unit, buckets };
}

export interface EndpointHealthNow {
  /** The most recent failed attempt's delivery: its status code and error. */
  lastProblem: { deliveryId: number; at: Date | null; statusCode: number | null; error: string | null } | null;
  /** The earliest retry scheduled for this endpoint. */
  nextRetryAt: Date | null;
  failedLast24h: number;
}

/** What the top of an endpoint's page says about its health now (idx_endpoint_status, idx_endpoint). */
export async function endpointHealthNow(conn: Queryable, t: Tables, id: number): Promise<EndpointHealthNow> {
  const [p] = await rows(
    conn,
    `SELECT id, last_attempt_at, last_status_code, last_error FROM ${t.deliveries}
      WHERE endpoint_id = ? AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1`,
    [id],
  );
  const [n] = await rows(
    conn,
    `SELECT MIN(next_attempt_at) AS next_at FROM ${t.deliveries}
      WHERE endpoint_id = ? AND status = 'pending' AND attempts > 0 AND claim_token IS NULL`,
    [id],
  );
  const [f] = await rows(
    conn,
    `SELECT COUNT(*) AS n FROM ${t.deliveries} WHERE endpoint_id = ? AND status = 'failed' AND completed_at >= NOW(3) - INTERVAL 1 DAY`,
    [id],
  );
  return {
    lastProblem: p
      ? {
          deliveryId: Number(p.id),
          at: toDate(p.last_attempt_at),
          statusCode: p.last_status_code === null ? null : Number(p.last_status_code),
          error: p.last_error === null ? null : String(p.last_error),
        }
      : null,
    nextRetryAt: toDate(n?.next_at),
    failedLast24h: Number(f?.n ?? 0),
  };
}

/** What the dashboard tiles count now, not over 24 h: deliveries still to send or held, and rows rejected in 24 h. */
export async function queueNow(
  conn: Queryable,
  t: Tables,
): Promise<{ pending: number; waiting: number; paused: number; rejected24h: number }> {
  const r = await rows(
    conn,
    `SELECT status, COUNT(*) AS n FROM ${t.deliveries} WHERE status IN ('pending', 'waiting', 'paused') GROUP BY status`,
  );
  const n = (s: string) => Number(r.find((x) => x.status === s)?.n ?? 0);
  const [rej] = await rows(
    conn,
    `SELECT COUNT(*) AS n FROM ${t.outbox} WHERE fanned_out_at >= NOW(3) - INTERVAL 1 DAY AND rejected_reason IS NOT NULL`,
  );
  return { pending: n('pending'), waiting: n('waiting'), paused: n('paused'), rejected24h: Number(rej?.n ?? 0) };
}
