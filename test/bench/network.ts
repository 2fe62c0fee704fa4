/**
 * `npm run bench -- --network-only=N`: fairness across the sites of a
 * WordPress network. A real network (WordPress's own install_network() under
 * php-cli) with two sites and one sidecar serving both; the quiet site gets
 * 10 events a second, first with nothing else going on, then while the main
 * site drains a backlog of N events unpaced. Printed: the quiet site's
 * insert → receipt latency (p50, p99) in both, and the busy site's drain rate.
 */
import type { Pool } from 'mysql2/promise';
import type { TestDb } from '../support/db.js';
import { apiClient, spawnSidecar, testEnv, type Api, type Child } from '../support/sidecar.js';
import { changeNetwork, installNetwork } from '../support/network.js';
import { freePort } from '../support/net.js';
import { sleep, waitFor } from '../support/wait.js';

type Stats = { count: number; lastAt: number; latencies: number[] };

export interface BenchParts {
  report(key: string, figure: string, value: number, unit: string, target?: { text: string; ok: boolean }): void;
  /** The bench receiver: reset its counts, read them. */
  ask<T>(cmd: 'reset' | 'stats'): Promise<T>;
  recvUrl: string;
  stop(c: Child): Promise<void>;
}

const QUIET_PER_SECOND = 10;

/** Inserts the quiet site's events (each carrying its insert time) at 10/s until `until` says stop; returns how many. */
async function quietEvents(pool: Pool, until: () => boolean | Promise<boolean>): Promise<number> {
  let sent = 0;
  while (!(await until())) {
    const started = Date.now();
    await pool.query('INSERT INTO wp_2_webhook_outbox (event_type, payload) VALUES (?, ?)', [
      'bench.quiet',
      JSON.stringify({ t: Date.now() }),
    ]);
    sent++;
    await sleep(Math.max(0, 1000 / QUIET_PER_SECOND - (Date.now() - started)));
  }
  return sent;
}

const percentile = (values: number[], p: number) => {
  const l = [...values].sort((a, b) => a - b);
  return l[Math.min(l.length - 1, Math.floor((p / 100) * l.length))] ?? NaN;
};

export async function networkFigures(db: TestDb, n: number, parts: BenchParts): Promise<void> {
  const server = new URL(db.url);
  const net = {
    dbName: db.name,
    dbUser: decodeURIComponent(server.username),
    dbPassword: decodeURIComponent(server.password),
    dbHost: `${server.hostname}:${server.port || 3306}`,
    prefix: 'wp_',
  };
  await installNetwork(net, { login: 'netadmin', email: 'netadmin@example.com', password: 'bench network admin' });
  await changeNetwork(net, { sites: [{ path: '/quiet/', title: 'Quiet site' }] });
  const port = await freePort();
  const child = spawnSidecar(testEnv(db.url, { PORT: String(port), LOG_LEVEL: 'warn', NETWORK: 'true' }));
  const api: Api = apiClient(`http://127.0.0.1:${port}`);
  try {
    await waitFor(
      'network sidecar up',
      async () => (await api('GET', '/healthz', undefined, null)).status === 200,
      30_000,
      100,
    );
    for (const [blog, type] of [
      [1, 'bench.busy'],
      [2, 'bench.quiet'],
    ] as const) {
      const r = await api('POST', `/sites/${blog}/api/endpoints`, {
        url: parts.recvUrl,
        events: [type],
        confirm: true,
      });
      if (r.status !== 201) throw new Error(`POST /sites/${blog}/api/endpoints: ${r.status} ${JSON.stringify(r.body)}`);
    }
    // The busy site drains as fast as it can; the quiet site keeps the default pace.
    await api('PATCH', '/sites/1/api/settings', { max_deliveries_per_second: 0 });

    // Idle: the quiet site alone, 10 s.
    await parts.ask('reset');
    const idleEnd = Date.now() + 10_000;
    const idleSent = await quietEvents(db.pool, () => Date.now() > idleEnd);
    const idle = await waitFor('quiet receipts', async () => {
      const s = await parts.ask<Stats>('stats');
      return s.count >= idleSent ? s : null;
    });
    parts.report('network_quiet_idle_p50_ms', 'quiet site alone: latency p50', percentile(idle.latencies, 50), 'ms');
    parts.report('network_quiet_idle_p99_ms', 'quiet site alone: latency p99', percentile(idle.latencies, 99), 'ms');

    // The main site drains N events unpaced while the quiet site goes on at 10/s.
    await parts.ask('reset');
    for (let i = 0; i < n; i += 1000)
      await db.pool.query('INSERT INTO wp_webhook_outbox (event_type, payload) VALUES ?', [
        Array.from({ length: Math.min(1000, n - i) }, (_, k) => ['bench.busy', JSON.stringify({ n: i + k })]),
      ]);
    const t0 = Date.now();
    let busyDoneAt = 0;
    const quietSent = await quietEvents(db.pool, async () => {
      const s = await parts.ask<Stats>('stats');
      // Busy receipts are those without a latency (no `t`).
      if (s.count - s.latencies.length >= n) busyDoneAt ||= s.lastAt;
      return busyDoneAt > 0;
    });
    const during = await waitFor(
      'receipts after the drain',
      async () => {
        const s = await parts.ask<Stats>('stats');
        return s.count >= n + quietSent ? s : null;
      },
      60_000,
    );
    parts.report('network_busy_per_s', `main site drains ${n} events unpaced`, n / ((busyDoneAt - t0) / 1000), '/s');
    parts.report(
      'network_quiet_drain_p50_ms',
      `quiet site during that drain: latency p50 (${quietSent} events)`,
      percentile(during.latencies, 50),
      'ms',
    );
    const p99 = percentile(during.latencies, 99);
    // The claim cycle: a second's tick, or the 200 ms probe between ticks.
    parts.report('network_quiet_drain_p99_ms', 'quiet site during that drain: latency p99', p99, 'ms', {
      text: '≤ 1000 ms (one claim cycle)',
      ok: p99 <= 1000,
    });
  } finally {
    await parts.stop(child);
  }
}
