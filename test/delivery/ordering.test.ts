/**
 * Ordered delivery per key, against a real receiver: one delivery of a key at
 * a time, in outbox order; a failing head holds back only its own key; an
 * operator can skip it; rows committed out of id order.
 */
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2/promise';
import { insertOutbox, useTestDb } from '../support/db.js';
import {
  ADMIN_PASSWORD,
  FAST_RETRIES,
  apiClient,
  spawnSidecar,
  stopChildren,
  startInProcess,
  testEnv,
  useSidecar,
  type Child,
} from '../support/sidecar.js';
import { startReceiver, type Receiver, type Received } from '../support/receiver.js';
import { Client } from '../support/browserless.js';
import { keyWatch, type KeyData } from '../support/keyWatch.js';
import { sleep, waitFor } from '../support/wait.js';

type Data = KeyData;
const data = (r: Received) => r.json.data as Data;

describe('ordered delivery per key', function () {
  this.timeout(60_000);
  const db = useTestDb('ordering');
  const fx = useSidecar(db);
  const { api } = fx;

  before(async () => {
    expect((await api('PATCH', '/api/settings', FAST_RETRIES)).status).to.equal(200);
  });
  afterEach(() => fx.reset());

  const rows = (type: string, spec: [string | null, number][]) =>
    spec.map(([key, n]) => ({ type, payload: { key, n }, key }));
  const statusOf = async (endpointId: number, n: number) => {
    const [[r]] = await db.get().pool.query<RowDataPacket[]>(
      `SELECT d.id, d.status, d.attempts FROM wp_webhook_deliveries d JOIN wp_webhook_events ev ON ev.id = d.event_pk
        WHERE d.endpoint_id = ? AND JSON_EXTRACT(ev.body, '$.data.n') = ?`,
      [endpointId, n],
    );
    return r as { id: number; status: string; attempts: number } | undefined;
  };

  /** The delivery of n = 1 with its first attempt recorded (attempts counts at completion): no longer being sent. */
  const headFailedOnce = (endpointId: number) =>
    waitFor('head failed once', async () => {
      const h = await statusOf(endpointId, 1);
      return h?.status === 'pending' && h.attempts === 1 ? h : null;
    });

  it("holds back only the failing head's key, in outbox order, one at a time; the log names what waits for what", async () => {
    let failuresLeft = 2;
    const watch = keyWatch((d) => {
      if (d.n === 1 && failuresLeft > 0) {
        failuresLeft--;
        return { status: 500 };
      }
      return { status: 200, delayMs: 20 };
    });
    const receiver = await fx.receiver((r) => watch.responder(r));
    const ep = await fx.endpoint(`${receiver.url}/hook`, ['enrollment.*'], { ordered: true });
    expect((await api('GET', `/api/endpoints/${ep.id}`)).body.ordered).to.equal(true);
    await insertOutbox(
      db.get().pool,
      rows('enrollment.created', [
        ['student_A', 1],
        ['student_B', 2],
      ]),
    );
    const head = await waitFor('the head retrying', async () => {
      const h = await statusOf(ep.id, 1);
      return h && watch.order.get('student_A')?.length === 1 && h.status === 'pending' ? h : null;
    });
    // Later rows of the key arrive while its head retries: they wait, naming it; B, C and the unkeyed row go.
    await insertOutbox(
      db.get().pool,
      rows('enrollment.created', [
        ['student_A', 3],
        [null, 4],
        ['student_B', 5],
        ['student_A', 6],
        ['student_C', 7],
      ]),
    );
    await waitFor('the new rows fanned out', async () => (await statusOf(ep.id, 7)) !== undefined);
    const waiting = (
      (await api('GET', `/api/deliveries?endpoint_id=${ep.id}&status=waiting`)).body.data as {
        waiting_for: number;
        ordering_key: string;
      }[]
    ).filter((w) => w.ordering_key === 'student_A');
    expect(waiting).to.have.length(2);
    for (const w of waiting) expect(w).to.include({ ordering_key: 'student_A', waiting_for: Number(head.id) });
    await waitFor(
      'B, C and the unkeyed row delivered',
      () => (watch.order.get('student_B')?.length ?? 0) === 2 && watch.order.has('student_C') && watch.order.has(''),
      15_000,
    );
    expect(watch.order.get('student_A'), 'A waits behind its failing head').to.deep.equal(
      [1, 1].slice(0, watch.order.get('student_A')!.length),
    );

    await waitFor('all delivered', () => watch.order.get('student_A')?.length === 5, 20_000);
    expect(watch.order.get('student_A')).to.deep.equal([1, 1, 1, 3, 6]);
    expect(watch.order.get('student_B')).to.deep.equal([2, 5]);
    expect(watch.maxInFlight(), 'one request of a key at a time').to.equal(1);
    // B's rows were not held by A's failures: both arrived before A's head succeeded.
    const arrival = (n: number) => receiver.received.findIndex((r) => data(r).n === n);
    const headSucceeded = receiver.received.map((r) => data(r).n).lastIndexOf(1);
    expect(arrival(5)).to.be.below(headSucceeded);
  });

  it('an operator skips a head that keeps failing: it ends failed and replayable, and the next of its key goes', async () => {
    expect((await api('PATCH', '/api/settings', { retry_schedule_seconds: [600] })).status).to.equal(200);
    try {
      let fail = true;
      const watch = keyWatch((d) => (d.n === 1 && fail ? { status: 503 } : { status: 200 }));
      const receiver = await fx.receiver((r) => watch.responder(r));
      const ep = await fx.endpoint(`${receiver.url}/hook`, ['order.*'], { ordered: true });
      await insertOutbox(
        db.get().pool,
        rows('order.created', [
          ['o1', 1],
          ['o1', 2],
          ['o1', 3],
        ]),
      );
      const head = await headFailedOnce(ep.id);
      const second = (await statusOf(ep.id, 2))!;

      const refused = await api('POST', `/api/deliveries/${second.id}/skip`);
      expect(refused.status).to.equal(400);
      expect(refused.body.error.message).to.contain(`waiting for delivery ${head.id}`);

      const skipped = await api('POST', `/api/deliveries/${head.id}/skip`);
      expect(skipped.status, JSON.stringify(skipped.body)).to.equal(200);
      expect(skipped.body).to.include({ status: 'failed', next_delivery_id: Number(second.id) });
      expect(skipped.body.last_error).to.match(/^skipped by an operator; last error: http_status/);
      await waitFor('the rest of the key delivered', () => watch.order.get('o1')?.length === 3, 10_000);
      expect(watch.order.get('o1')).to.deep.equal([1, 2, 3]);

      // Still replayable: it goes again (to the end of nothing: the key is free).
      fail = false;
      expect((await api('POST', `/api/deliveries/${head.id}/replay`)).status).to.equal(202);
      await waitFor('replayed head delivered', async () => (await statusOf(ep.id, 1))?.status === 'succeeded');
      expect(watch.order.get('o1')).to.deep.equal([1, 2, 3, 1]);
      expect((await api('POST', `/api/deliveries/${head.id}/skip`)).body.error.message).to.contain(
        'has already succeeded',
      );
    } finally {
      await api('PATCH', '/api/settings', FAST_RETRIES);
    }
  });

  it('the admin page skips a head and links a waiting delivery to it; switching ordering off sends what waits', async () => {
    expect((await api('PATCH', '/api/settings', { retry_schedule_seconds: [600] })).status).to.equal(200);
    try {
      const watch = keyWatch((d) => (d.n <= 2 ? { status: 500 } : { status: 200 }));
      const receiver = await fx.receiver((r) => watch.responder(r));
      const ep = await fx.endpoint(`${receiver.url}/hook`, ['order.*'], { ordered: true });
      await insertOutbox(
        db.get().pool,
        rows('order.created', [
          ['k', 1],
          ['k', 2],
          ['k', 3],
        ]),
      );
      const head = await headFailedOnce(ep.id);
      const second = (await statusOf(ep.id, 2))!;
      const c = new Client(fx.sidecar.url);
      expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
      const waitingPage = (await c.get(`/admin/deliveries/${second.id}`)).text;
      expect(waitingPage).to.match(
        new RegExp(`waits for <a href="/admin/deliveries/${head.id}">delivery #${head.id}</a>`),
      );
      expect(waitingPage, 'no Skip on a waiting delivery').to.not.contain('/skip"');

      const skipped = await c.post(`/admin/deliveries/${head.id}/skip`, {}, `/admin/deliveries/${head.id}`);
      expect(skipped.status).to.equal(303);
      expect((await c.get(skipped.location!)).text).to.contain('Skipped: the delivery ended as failed');
      await waitFor('the second sent and retrying', () => watch.order.get('k')?.length === 2, 10_000);
      expect((await statusOf(ep.id, 3))!.status).to.equal('waiting');

      expect((await api('PATCH', `/api/endpoints/${ep.id}`, { ordered: false })).status).to.equal(200);
      await waitFor('the waiting row sent', () => watch.order.get('k')?.length === 3, 10_000);
      expect(watch.order.get('k')).to.deep.equal([1, 2, 3]);
      // Received is not yet recorded: the recorder writes results in batches a few ms later.
      await waitFor('the third recorded as succeeded', async () => (await statusOf(ep.id, 3))!.status === 'succeeded');
    } finally {
      await api('PATCH', '/api/settings', FAST_RETRIES);
    }
  });

  describe('rows committed out of id order', () => {
    async function outOfOrder(receiver: Receiver, endpointId: number, holdMs: number) {
      // The earlier id is inserted in a transaction left open; the later one commits at once.
      const early = await db.get().pool.getConnection();
      try {
        await early.query('START TRANSACTION');
        await insertOutbox(early, rows('quiz.completed', [['q', 1]]));
        await insertOutbox(db.get().pool, rows('quiz.completed', [['q', 2]]));
        await sleep(holdMs);
        await early.query('COMMIT');
      } finally {
        early.release();
      }
      await waitFor(
        'both delivered',
        async () =>
          (await statusOf(endpointId, 1))?.status === 'succeeded' &&
          (await statusOf(endpointId, 2))?.status === 'succeeded',
        15_000,
      );
      return receiver.received.map((r) => data(r).n);
    }

    it('an earlier row committed within the settle time still goes first', async () => {
      const watch = keyWatch(() => ({ status: 200 }));
      const receiver = await fx.receiver((r) => watch.responder(r));
      const ep = await fx.endpoint(`${receiver.url}/hook`, ['quiz.*'], { ordered: true });
      expect(await outOfOrder(receiver, ep.id, 100)).to.deep.equal([1, 2]);
    });

    it('one committed long after its successor was sent arrives after it, once, never both at once', async () => {
      const watch = keyWatch(() => ({ status: 200, delayMs: 50 }));
      const receiver = await fx.receiver((r) => watch.responder(r));
      const ep = await fx.endpoint(`${receiver.url}/hook`, ['quiz.*'], { ordered: true });
      expect(await outOfOrder(receiver, ep.id, 3000)).to.deep.equal([2, 1]);
      expect(watch.maxInFlight()).to.equal(1);
    });
  });
});

describe('ordered delivery across processes', function () {
  this.timeout(120_000);
  const db = useTestDb('ordering_procs');
  let receiver: Receiver | null = null;
  const children: Child[] = [];

  async function setup(settings: Record<string, unknown>): Promise<number> {
    const admin = await startInProcess(db.get().url, {}, { loop: false });
    try {
      const api = apiClient(admin.url);
      expect((await api('PATCH', '/api/settings', settings)).status).to.equal(200);
      const res = await api('POST', '/api/endpoints', {
        url: `${receiver!.url}/hook`,
        events: ['enrollment.created'],
        ordered: true,
      });
      expect(res.status).to.equal(201);
      return res.body.id as number;
    } finally {
      await admin.stop();
    }
  }
  const spawn = () => {
    const c = spawnSidecar(testEnv(db.get().url, { LOG_LEVEL: 'info' }));
    children.push(c);
    return c;
  };
  const succeeded = async () => {
    const [[r]] = await db
      .get()
      .pool.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM wp_webhook_deliveries WHERE status = 'succeeded'");
    return Number(r!.n);
  };

  afterEach(async () => {
    await stopChildren(children);
    await receiver?.close();
    receiver = null;
  });

  it('two processes keep each key in order, one request of a key at a time', async () => {
    const KEYS = 40;
    const PER_KEY = 15;
    // Replies take 20–29 ms: the drain lasts seconds, so both processes take part and interleave on every key.
    const watch = keyWatch((d) => ({ status: 200, delayMs: 20 + ((d.n * 7) % 10) }));
    receiver = await startReceiver((r) => watch.responder(r));
    // A small per-process cap: neither process can hold every key's head, so both send.
    await setup({ timeout_seconds: 5, max_in_flight_per_endpoint: 4 });
    const a = spawn();
    const b = spawn();
    // Both running before the rows appear, so both take part.
    await waitFor(
      'both started',
      () => a.output().includes('sidecar started') && b.output().includes('sidecar started'),
      20_000,
    );
    const list = Array.from({ length: KEYS * PER_KEY }, (_, n) => ({
      type: 'enrollment.created',
      payload: { key: `s${n % KEYS}`, n },
      key: `s${n % KEYS}`,
    }));
    await insertOutbox(db.get().pool, list);
    await waitFor('all delivered', async () => (await succeeded()) === list.length, 90_000, 200);
    expect(watch.maxInFlight(), 'one request of a key at a time').to.equal(1);
    for (let k = 0; k < KEYS; k++) {
      const got = watch.order.get(`s${k}`)!;
      const sent = list.filter((x) => x.key === `s${k}`).map((x) => x.payload.n);
      // At-least-once: a repeat may only follow its own first arrival; the first arrivals are in order.
      expect([...new Set(got)], `key s${k}`).to.deep.equal(sent);
    }
    const [workers] = await db
      .get()
      .pool.query<RowDataPacket[]>('SELECT COUNT(DISTINCT worker) AS n FROM wp_webhook_attempts');
    expect(Number(workers[0]!.n), 'both processes sent').to.equal(2);
    expect(a.output() + b.output()).to.not.match(/"level":"error"/);
  });

  it('a process killed mid-send: the next of the key waits until the head is sent again and answered', async () => {
    let hangFirst = true;
    const watch = keyWatch((d) => {
      if (d.n === 1 && hangFirst) {
        hangFirst = false;
        return { hang: true };
      }
      return { status: 200 };
    });
    receiver = await startReceiver((r) => watch.responder(r));
    // Lease = 2 × timeout + 10 s: 12 s before the head is due again.
    await setup({ timeout_seconds: 1 });
    const a = spawn();
    await insertOutbox(
      db.get().pool,
      [1, 2, 3].map((n) => ({ type: 'enrollment.created', payload: { key: 'k', n }, key: 'k' })),
    );
    await waitFor('the head in flight', () => receiver!.received.length === 1, 20_000);
    a.proc.kill('SIGKILL');
    await a.exited;
    spawn();
    await waitFor('the key delivered', () => watch.order.get('k')?.length === 4, 40_000, 100);
    expect(watch.order.get('k')).to.deep.equal([1, 1, 2, 3]);
  });
});

describe('an outbox without ordering_key', function () {
  this.timeout(60_000);
  const db = useTestDb('ordering_nokey');
  const user = `nokey_${Math.random().toString(36).slice(2, 8)}`;

  it('runs without ordering when the column cannot be added, says so on the endpoint page, and delivers', async () => {
    const { pool, name, url } = db.get();
    // Set up as root, then drop the column; the sidecar runs as a user that may write but not ALTER.
    const admin = await startInProcess(url, {}, { loop: false });
    await admin.stop();
    await pool.query('ALTER TABLE wp_webhook_outbox DROP COLUMN ordering_key');
    await pool.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'pw-${user}'`);
    db.get().beforeDrop(async () => {
      await pool.query(`DROP USER IF EXISTS '${user}'@'%'`);
    });
    await pool.query(`GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, INDEX ON \`${name}\`.* TO '${user}'@'%'`);
    const limited = new URL(url);
    limited.username = user;
    limited.password = `pw-${user}`;

    const receiver = await startReceiver();
    const sc = await startInProcess(limited.href);
    try {
      const api = apiClient(sc.url);
      const ep = await api('POST', '/api/endpoints', {
        url: `${receiver.url}/hook`,
        events: ['order.*'],
        ordered: true,
      });
      expect(ep.status).to.equal(201);
      await insertOutbox(
        pool,
        [1, 2].map((n) => ({ type: 'order.created', payload: { key: null, n } })),
      );
      await waitFor('delivered', () => receiver.received.length === 2, 15_000);
      const c = new Client(sc.url);
      expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
      expect((await c.get(`/admin/endpoints/${ep.body.id}`)).text).to.contain(
        'the outbox table has no <code>ordering_key</code> column',
      );
    } finally {
      await sc.stop();
      await receiver.close();
    }
  });
});
