/**
 * Real sidecar processes (`node dist/src/main.js`) sharing one database:
 * two at once deliver every event exactly once; one killed with SIGKILL in
 * the middle of a backlog and restarted loses nothing.
 */
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2/promise';
import { insertOutbox, useTestDb } from '../support/db.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { apiClient, spawnSidecar, stopChildren, startInProcess, testEnv, type Child } from '../support/sidecar.js';
import { waitFor } from '../support/wait.js';

/**
 * Only what was sent but not yet recorded at a kill can be sent twice: the
 * requests in flight to the one endpoint (64) plus the results waiting for the
 * recorder, which writes batches of 100 one transaction at a time, so up to
 * about three batches while one is being written.
 */
const DUPLICATE_BOUND = 64 + 3 * 100;

describe('several sidecar processes on one database', function () {
  this.timeout(120_000);
  const db = useTestDb('replicas');
  let receiver: Receiver;
  const children: Child[] = [];

  async function setup(events: string[], settings: Record<string, unknown>) {
    // Configure through the real API of a sidecar whose loop is off.
    const admin = await startInProcess(db.get().url, {}, { loop: false });
    const api = apiClient(admin.url);
    await api('PATCH', '/api/settings', settings);
    const res = await api('POST', '/api/endpoints', { url: `${receiver.url}/hook`, events });
    await admin.stop();
    expect(res.status).to.equal(201);
  }

  function spawn() {
    const c = spawnSidecar(testEnv(db.get().url, { LOG_LEVEL: 'warn' }));
    children.push(c);
    return c;
  }

  async function countStatus(status: string, type: string): Promise<number> {
    const [[r]] = await db
      .get()
      .pool.query<RowDataPacket[]>(
        'SELECT COUNT(*) AS n FROM wp_webhook_deliveries WHERE status = ? AND event_type = ?',
        [status, type],
      );
    return Number(r!.n);
  }

  function tally() {
    const counts = new Map<string, number>();
    for (const r of receiver.received) counts.set(r.json.id, (counts.get(r.json.id) ?? 0) + 1);
    return counts;
  }

  beforeEach(async () => {
    receiver = await startReceiver();
  });

  afterEach(async () => {
    await stopChildren(children);
    await receiver.close();
  });

  it('two processes deliver every event exactly once', async () => {
    const N = 3000;
    await setup(['enrollment.created'], { timeout_seconds: 5 });
    const a = spawn();
    const b = spawn();
    await insertOutbox(
      db.get().pool,
      Array.from({ length: N }, (_, i) => ({ type: 'enrollment.created', payload: { i } })),
    );
    await waitFor(
      'all delivered',
      async () => (await countStatus('succeeded', 'enrollment.created')) === N,
      90_000,
      200,
    );
    const counts = tally();
    const duplicates = [...counts.values()].filter((n) => n > 1).length;
    const [workers] = await db
      .get()
      .pool.query<RowDataPacket[]>('SELECT worker, COUNT(*) AS n FROM wp_webhook_attempts GROUP BY worker');
    console.log(
      `      ${N} events, ${counts.size} distinct received, ${duplicates} duplicated, by ${workers.map((w) => w.n).join(' + ')} attempts`,
    );
    expect(counts.size).to.equal(N);
    expect(duplicates).to.equal(0);
    expect(receiver.received.length).to.equal(N);
    expect(workers.length, 'both processes took part').to.equal(2);
    expect(a.output() + b.output()).to.not.match(/"level":"error"/);
  });

  it('a process killed with SIGKILL mid-backlog loses nothing once another takes over', async () => {
    const N = 3000;
    // timeout 1 s → 12 s leases, so the dead process's claims come back quickly.
    await setup(['order.created'], { timeout_seconds: 1 });
    receiver.respond(() => ({ status: 200, delayMs: 5 }));
    const first = spawn();
    await insertOutbox(
      db.get().pool,
      Array.from({ length: N }, (_, i) => ({ type: 'order.created', payload: { i } })),
    );
    await waitFor('some deliveries made', () => receiver.received.length >= 500, 60_000);
    first.proc.kill('SIGKILL');
    await first.exited;
    const atKill = receiver.received.length;
    spawn();
    await waitFor(
      'all delivered after restart',
      async () => (await countStatus('succeeded', 'order.created')) === N,
      90_000,
      200,
    );

    const [ids] = await db
      .get()
      .pool.query<RowDataPacket[]>("SELECT event_id FROM wp_webhook_outbox WHERE event_type = 'order.created'");
    const counts = tally();
    const lost = ids.filter((r) => !counts.has(String(r.event_id))).length;
    const duplicated = [...counts.values()].reduce((s, n) => s + (n - 1), 0);
    console.log(`      ${N} events, killed after ${atKill} receipts: lost ${lost}, duplicated ${duplicated}`);
    expect(lost).to.equal(0);
    expect(duplicated).to.be.at.most(DUPLICATE_BOUND);
  });

  it('SIGTERM stops claiming, finishes what is in flight and exits 0 within 10 s; nothing is lost', async () => {
    const N = 2000;
    await setup(['lesson.completed'], { timeout_seconds: 5 });
    receiver.respond(() => ({ status: 200, delayMs: 300 }));
    const first = spawn();
    await insertOutbox(
      db.get().pool,
      Array.from({ length: N }, (_, i) => ({ type: 'lesson.completed', payload: { i } })),
    );
    await waitFor('deliveries under way', () => receiver.received.length >= 200, 60_000);
    const t0 = Date.now();
    first.proc.kill('SIGTERM');
    const code = await first.exited;
    const tookMs = Date.now() - t0;
    console.log(`      SIGTERM with requests in flight: exited ${code} after ${tookMs} ms`);
    expect(code).to.equal(0);
    expect(tookMs).to.be.below(10_000);
    const [[claimed]] = await db
      .get()
      .pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM wp_webhook_deliveries WHERE claim_token IS NOT NULL');
    expect(Number(claimed!.n), 'claims handed back').to.equal(0);
    receiver.respond(() => ({ status: 200 }));
    spawn();
    await waitFor(
      'all delivered after restart',
      async () => (await countStatus('succeeded', 'lesson.completed')) === N,
      60_000,
      200,
    );
    const counts = tally();
    expect(counts.size).to.equal(N);
  });

  it('survives SIGKILLs at random moments while another process keeps going: nothing lost', async () => {
    const N = 4000;
    await setup(['course.updated'], { timeout_seconds: 1 });
    receiver.respond(() => ({ status: 200, delayMs: 3 }));
    let live = [spawn(), spawn()];
    await insertOutbox(
      db.get().pool,
      Array.from({ length: N }, (_, i) => ({ type: 'course.updated', payload: { i } })),
    );
    const kills: number[] = [];
    for (const at of [400 + Math.floor(Math.random() * 400), 1600 + Math.floor(Math.random() * 600)]) {
      await waitFor(`${at} receipts`, () => receiver.received.length >= at, 60_000, 10);
      const victim = live.shift()!;
      victim.proc.kill('SIGKILL');
      await victim.exited;
      kills.push(receiver.received.length);
      live = [...live, spawn()];
    }
    await waitFor('all delivered', async () => (await countStatus('succeeded', 'course.updated')) === N, 90_000, 200);
    const counts = tally();
    const duplicated = [...counts.values()].reduce((a, n) => a + n - 1, 0);
    console.log(
      `      ${N} events, SIGKILL after ${kills.join(' and ')} receipts: lost ${N - counts.size}, duplicated ${duplicated}`,
    );
    expect(counts.size).to.equal(N);
    expect(duplicated).to.be.at.most(2 * DUPLICATE_BOUND);
  });
});
