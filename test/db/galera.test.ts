/**
 * Past one database server, for real: a 3-node MariaDB Galera cluster on
 * loopback (test/support/galera.ts) under real sidecar processes. Starting
 * many at once across the nodes; draining with replicas on different nodes;
 * a node killed under a replica mid-drain.
 */
import { expect } from 'chai';
import mysql, { type Pool, type RowDataPacket } from 'mysql2/promise';
import { startGalera, type GaleraCluster } from '../support/galera.js';
import { insertOutbox } from '../support/db.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import {
  API_TOKEN,
  apiClient,
  spawnSidecar,
  startInProcess,
  stopChildren,
  testEnv,
  type Child,
} from '../support/sidecar.js';
import { sleep, waitFor } from '../support/wait.js';
import { keyWatch } from '../support/keyWatch.js';

const DB = 'lms';

describe('on a 3-node Galera cluster', function () {
  this.timeout(180_000);
  let cluster: GaleraCluster;
  let pool: Pool; // the LMS, writing through node 1
  let receiver: Receiver;
  const children: Child[] = [];

  before(async () => {
    cluster = await startGalera(3);
    const admin = await mysql.createConnection({ host: '127.0.0.1', port: cluster.nodes[0]!.port, user: 'root' });
    await admin.query(`CREATE DATABASE ${DB}`);
    await admin.end();
    pool = mysql.createPool({ uri: cluster.nodes[0]!.url(DB), connectionLimit: 4, timezone: 'Z' });
  });
  after(async () => {
    await stopChildren(children);
    await pool?.end();
    await cluster?.destroy();
  });
  beforeEach(async () => {
    receiver = await startReceiver();
  });
  afterEach(async () => {
    await stopChildren(children);
    await receiver.close();
  });

  /** A replica whose DATABASE_URL names every node, `first` first. */
  function spawn(first: number, extra: Record<string, string> = {}) {
    const c = spawnSidecar(testEnv(cluster.url(DB, first), { LOG_LEVEL: 'info', ...extra }));
    children.push(c);
    return c;
  }
  const urlOf = (c: Child) => /"url":"(http:\/\/[^"]+)"/.exec(c.output())?.[1] ?? null;
  const errorLines = (c: Child) =>
    c
      .output()
      .split('\n')
      .filter((l) => l.includes('"level":"error"'));

  async function endpoint(settings: Record<string, unknown> = {}) {
    const admin = await startInProcess(cluster.url(DB), {}, { loop: false });
    try {
      const api = apiClient(admin.url);
      if (Object.keys(settings).length) expect((await api('PATCH', '/api/settings', settings)).status).to.equal(200);
      await api('DELETE', '/api/endpoints/1');
      const res = await api('POST', '/api/endpoints', { url: `${receiver.url}/hook`, events: ['order.created'] });
      expect(res.status).to.equal(201);
    } finally {
      await admin.stop();
    }
  }

  const tally = () => {
    const counts = new Map<string, number>();
    for (const r of receiver.received) counts.set(r.json.id, (counts.get(r.json.id) ?? 0) + 1);
    return counts;
  };
  async function succeeded(): Promise<number> {
    const [[r]] = await pool.query<RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM wp_webhook_deliveries WHERE status = 'succeeded'",
    );
    return Number(r!.n);
  }

  it('ten replicas started at once across the three nodes all start (migrations under a lock every node sees)', async () => {
    const started = Array.from({ length: 10 }, (_, i) => spawn(i % 3));
    await waitFor(
      'all started or one exited',
      () =>
        started.every((c) => c.output().includes('sidecar started')) || started.some((c) => c.proc.exitCode !== null),
      60_000,
      100,
    );
    for (const c of started) expect(c.proc.exitCode, c.output().slice(-2000)).to.equal(null);
    const [m] = await pool.query<RowDataPacket[]>(
      'SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d FROM wp_webhook_migrations',
    );
    expect(Number(m[0]!.n)).to.equal(Number(m[0]!.d));
    await stopChildren(children);
    for (const c of started) expect(errorLines(c), c.output().slice(-2000)).to.deep.equal([]);
  });

  async function drainWith(firsts: number[], label: string) {
    const N = 3000;
    await endpoint({ timeout_seconds: 5 });
    const before = await succeeded();
    const replicas = firsts.map((i) => spawn(i));
    await waitFor('started', () => replicas.every((c) => c.output().includes('sidecar started')), 30_000);
    const t0 = Date.now();
    await insertOutbox(
      pool,
      Array.from({ length: N }, (_, n) => ({ type: 'order.created', payload: { n } })),
    );
    await waitFor('all delivered', async () => (await succeeded()) - before === N, 120_000, 200);
    const seconds = (Date.now() - t0) / 1000;
    const counts = tally();
    const conflicts = await Promise.all(
      replicas.map(async (c) => {
        const res = await fetch(`${urlOf(c)}/metrics`);
        return Number(/^webhooks_db_conflicts_retried_total (\d+)/m.exec(await res.text())?.[1] ?? NaN);
      }),
    );
    process.stdout.write(
      `      (${N} events, ${label}: ${Math.round(N / seconds)}/s, ${counts.size} delivered, ${[...counts.values()].filter((n) => n > 1).length} twice, conflicts retried ${conflicts.join('+')})\n`,
    );
    expect(counts.size).to.equal(N);
    expect([...counts.values()].filter((n) => n > 1)).to.deep.equal([]);
    for (const c of replicas) expect(errorLines(c), c.output().slice(-2000)).to.deep.equal([]);
  }

  it('three replicas on one node drain thousands of events (the figure to compare with)', async () => {
    await drainWith([0, 0, 0], '3 replicas on 1 node');
  });

  it('replicas on different nodes drain thousands of events: none lost, none twice, no error lines', async () => {
    await drainWith([0, 1, 2], '3 replicas on 3 nodes');
  });

  it('ordered delivery holds over replicas on different nodes: each key in order, never two of a key at once', async () => {
    const KEYS = 30;
    const PER_KEY = 20;
    const watch = keyWatch((d) => ({ status: 200, delayMs: 20 + ((d.n * 7) % 10) }));
    receiver.respond((r) => watch.responder(r));
    const admin = await startInProcess(cluster.url(DB), {}, { loop: false });
    try {
      const api = apiClient(admin.url);
      expect((await api('PATCH', '/api/settings', { max_in_flight_per_endpoint: 4 })).status).to.equal(200);
      for (const e of (await api('GET', '/api/endpoints')).body.data) await api('DELETE', `/api/endpoints/${e.id}`);
      expect(
        (
          await api('POST', '/api/endpoints', {
            url: `${receiver.url}/ordered`,
            events: ['order.created'],
            ordered: true,
          })
        ).status,
      ).to.equal(201);
    } finally {
      await admin.stop();
    }
    const replicas = [0, 1, 2].map((i) => spawn(i));
    await waitFor('started', () => replicas.every((c) => c.output().includes('sidecar started')), 30_000);
    const list = Array.from({ length: KEYS * PER_KEY }, (_, n) => ({
      type: 'order.created',
      payload: { key: `k${n % KEYS}`, n },
      key: `k${n % KEYS}`,
    }));
    const before = await succeeded();
    await insertOutbox(pool, list);
    await waitFor('all delivered', async () => (await succeeded()) - before === list.length, 90_000, 200);
    expect(watch.maxInFlight(), 'one request of a key at a time').to.equal(1);
    for (let k = 0; k < KEYS; k++) {
      expect([...new Set(watch.order.get(`k${k}`))], `key k${k}`).to.deep.equal(
        list.filter((x) => x.key === `k${k}`).map((x) => x.payload.n),
      );
    }
    for (const c of replicas) expect(errorLines(c), c.output().slice(-2000)).to.deep.equal([]);
  });

  it('refuses to start on a read-only server (a replica a proxy sent it to), with a line that says so', async () => {
    const node3 = await mysql.createConnection({ host: '127.0.0.1', port: cluster.nodes[2]!.port, user: 'root' });
    try {
      await node3.query('SET GLOBAL read_only = 1');
      const c = spawnSidecar(testEnv(cluster.nodes[2]!.url(DB), { LOG_LEVEL: 'info' }));
      children.push(c);
      expect(await c.exited).to.not.equal(0);
      expect(c.output())
        .to.match(/read-only \(@@read_only = 1/)
        .and.match(/Point DATABASE_URL at the primary/);
    } finally {
      await node3.query('SET GLOBAL read_only = 0');
      await node3.end();
    }
  });

  it('a node killed under a replica mid-drain: it moves on within seconds, nothing is lost, and it returns when the node is back', async () => {
    const N = 3000;
    // Lease = 2 × timeout + 10 s: what another replica waits before re-sending an unrecorded claim.
    await endpoint({ timeout_seconds: 2 });
    const before = await succeeded();
    const onNode2 = spawn(1);
    const others = [spawn(0), spawn(2)];
    await waitFor('started', () => [onNode2, ...others].every((c) => c.output().includes('sidecar started')), 30_000);
    const health = async () => {
      try {
        const res = await fetch(`${urlOf(onNode2)}/healthz`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
        return { ...((await res.json()) as { database_host: string }), code: res.status };
      } catch {
        return null;
      }
    };
    const node2 = `127.0.0.1:${cluster.nodes[1]!.port}`;
    expect((await health())?.database_host).to.equal(node2);
    await insertOutbox(
      pool,
      Array.from({ length: N }, (_, n) => ({ type: 'order.created', payload: { n } })),
    );
    await waitFor('under way', () => receiver.received.length >= 500, 60_000, 20);
    const killedAt = Date.now();
    await cluster.nodes[1]!.kill();
    const moved = await waitFor(
      'moved to another node and healthy',
      async () => {
        const h = await health();
        return h && h.code === 200 && h.database_host !== node2 ? h : null;
      },
      30_000,
      100,
    ).catch(async (err: Error) => {
      throw new Error(
        `${err.message}; /healthz ${JSON.stringify(await health())}; its log:\n${onNode2.output().slice(-3000)}`,
      );
    });
    const recovery = (Date.now() - killedAt) / 1000;
    await waitFor('all delivered', async () => (await succeeded()) - before === N, 120_000, 200);
    const drained = (Date.now() - killedAt) / 1000;
    const counts = tally();
    const twice = [...counts.values()].filter((n) => n > 1).length;
    process.stdout.write(
      `      (node 2 killed after ${receiver.received.length >= 500 ? '500+' : '?'} receipts: its replica healthy on ${moved.database_host} after ${recovery.toFixed(1)} s, all ${counts.size} delivered ${drained.toFixed(1)} s after the kill, ${twice} twice)\n`,
    );
    expect(counts.size).to.equal(N);
    // Only what was in flight when the node died and could be recorded nowhere may repeat; with a node to fail over to, nothing.
    expect(twice).to.be.at.most(64);
    for (const c of [onNode2, ...others]) expect(errorLines(c), c.output().slice(-3000)).to.deep.equal([]);

    await cluster.nodes[1]!.start();
    await waitFor('back on its first host', async () => (await health())?.database_host === node2, 30_000, 200);
    await sleep(100);
  });
});
