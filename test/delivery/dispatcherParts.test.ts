/**
 * The claimer, the attempt, the recorder and the fan-out loop, each alone, on a
 * real database and against a real receiver: what the dispatcher wires
 * together, pinned one part at a time.
 */
import { expect } from 'chai';
import mysql, { type Pool, type RowDataPacket } from 'mysql2/promise';
import { insertOutbox, migratedPool, useTestDb } from '../support/db.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { createClaimer } from '../../src/delivery/claimer.js';
import { createAttempter } from '../../src/delivery/attempt.js';
import { createRecorder } from '../../src/delivery/recorder.js';
import { createSender, type Sender } from '../../src/delivery/send.js';
import { createSettingsStore, type SettingsStore } from '../../src/delivery/settingsStore.js';
import { fanOutBatch } from '../../src/delivery/fanout.js';
import { createFanOutLoop } from '../../src/delivery/fanoutLoop.js';
import { insertEndpoint } from '../../src/db/endpoints.js';
import type { ClaimedDelivery } from '../../src/db/claims.js';
import type { Tables } from '../../src/db/tables.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { waitFor } from '../support/wait.js';
import { testSecretBox } from '../support/sidecar.js';

describe('the dispatcher parts, one at a time', function () {
  this.timeout(30_000);
  const db = useTestDb('parts');
  let pool: Pool;
  let t: Tables;
  let settings: SettingsStore;
  let sender: Sender;
  let receiver: Receiver;
  let endpointId: number;

  before(async () => {
    ({ pool, t } = await migratedPool(db.get().url));
    settings = createSettingsStore(pool, t);
    // Unpaced: these tests look at one part at a time; the pace has its own test below.
    await settings.update({
      retryScheduleSeconds: [60],
      retryJitterRatio: 0,
      timeoutSeconds: 2,
      maxDeliveriesPerSecond: 0,
    });
    sender = createSender({ allowPrivateTargets: true });
    receiver = await startReceiver((req) => {
      const data = req.json.data as { status?: number; bodyBytes?: number };
      return { status: data?.status ?? 200, body: data?.bodyBytes ? '"'.repeat(data.bodyBytes) : undefined };
    });
    endpointId = await insertEndpoint(pool, t, testSecretBox(), {
      url: receiver.url,
      description: '',
      events: ['*'],
      enabled: true,
      secret: 'a-secret-of-16-chars',
    });
    db.get().beforeDrop(async () => {
      sender.close();
      await receiver.close();
      await pool.end();
    });
  });

  const due = async () =>
    Number(
      (
        await pool.query<RowDataPacket[]>(
          "SELECT COUNT(*) AS n FROM wp_webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= NOW(3)",
        )
      )[0][0]!.n,
    );
  /** An outbox row's payload: the status and body length the receiver answers it with. */
  type OutboxRowSpec = { status?: number; bodyBytes?: number };
  async function fresh(rows: OutboxRowSpec[]): Promise<void> {
    await pool.query("UPDATE wp_webhook_deliveries SET status = 'succeeded' WHERE status = 'pending'");
    await insertOutbox(
      pool,
      rows.map((data) => ({ type: 'parts.test', payload: data })),
    );
    await fanOutBatch(pool, t, { limit: 500, maxPayloadBytes: 1 << 20 });
  }

  describe('claimer', () => {
    it('never gives two claimers the same row, stamps a lease, respects free slots, and release makes rows due again', async () => {
      await fresh(Array.from({ length: 20 }, () => ({})));
      const a = createClaimer({ pool, tables: t, secrets: testSecretBox(), worker: 'a' });
      const b = createClaimer({ pool, tables: t, secrets: testSecretBox(), worker: 'b' });
      const req = { limit: 15, timeoutSeconds: 2, excludeEndpoints: [], freeSlots: () => 100 };
      const [ra, rb] = await Promise.all([a.claim(req), b.claim(req)]);
      const ids = [...ra.claimed, ...rb.claimed].map((c) => c.id);
      expect(ids).to.have.length(20);
      expect(new Set(ids).size, 'no row claimed twice').to.equal(20);
      expect(await due(), 'claimed rows are not due while their lease runs').to.equal(0);
      const [[lease]] = await pool.query<RowDataPacket[]>(
        'SELECT MIN(TIMESTAMPDIFF(SECOND, NOW(3), next_attempt_at)) AS s FROM wp_webhook_deliveries WHERE claim_token IS NOT NULL',
      );
      expect(Number(lease!.s), 'lease = 2 × timeout + 10 s').to.be.within(12, 14);
      await a.release(ra.claimed);
      expect(await due()).to.equal(ra.claimed.length);
      const capped = await a.claim({ ...req, limit: 20, freeSlots: () => 3 });
      expect(capped.claimed).to.have.length(3);
      expect((await a.claim({ ...req, excludeEndpoints: [endpointId] })).claimed).to.have.length(0);
      await a.release([...capped.claimed, ...rb.claimed]);
    });
  });

  describe('attempt', () => {
    const attempt = () => createAttempter({ sender, settings, site: 'wp_', userAgent: 'test/1', worker: 'w' });
    const claimOne = async (): Promise<ClaimedDelivery> => {
      const { claimed } = await createClaimer({ pool, tables: t, secrets: testSecretBox(), worker: 'w' }).claim({
        limit: 1,
        timeoutSeconds: 2,
        excludeEndpoints: [],
        freeSlots: () => 1,
      });
      return claimed[0]!;
    };

    it('signs and sends the stored bytes, and decides: success, a retry after the schedule, 410 disables, our own fault fails at once', async () => {
      await fresh([{}]);
      const ok = await attempt()(await claimOne());
      expect(ok.ok).to.equal(true);
      expect(ok.completion.status).to.equal('succeeded');
      expect(ok.attempt).to.include({ attemptNo: 1, startedBy: 'first', statusCode: 200, requestUrl: receiver.url });
      expect(receiver.received.at(-1)!.headers['x-webhook-signature']).to.equal(
        ok.attempt!.requestHeaders['x-webhook-signature'],
      );

      await fresh([{ status: 500 }]);
      const retry = await attempt()(await claimOne());
      expect(retry.completion).to.include({ status: 'pending', delayMs: 60_000 });

      await fresh([{ status: 410 }]);
      const gone = await attempt()(await claimOne());
      expect(gone.completion.status).to.equal('paused');
      expect(gone.disableReason).to.equal('the endpoint answered 410 Gone');

      await fresh([{}]);
      const bad = await claimOne();
      const own = await attempt()({ ...bad, eventType: 'order.\u0007' });
      expect(own.completion.status).to.equal('failed');
      expect(own.attempt!.errorClass).to.equal('internal');
      expect(own.attempt!.errorMessage).to.match(
        /^the sidecar could not build this request, so it was not sent: the x-webhook-event header/,
      );
    });

    it('numbers on from earlier attempts, restarting the schedule after a replay, and sends nothing to a disabled endpoint', async () => {
      await fresh([{ status: 500 }]);
      const c = await claimOne();
      const replayed = await attempt()({ ...c, attempts: 3, retryBase: 3 });
      expect(replayed.attempt).to.include({ attemptNo: 4, startedBy: 'replay' });
      expect(replayed.completion.delayMs, 'first delay of the schedule again').to.equal(60_000);
      const exhausted = await attempt()({ ...c, attempts: 4, retryBase: 3 });
      expect(exhausted.attempt).to.include({ attemptNo: 5, startedBy: 'retry' });
      expect(exhausted.completion.status, 'one retry in the schedule, used').to.equal('failed');
      const before = receiver.received.length;
      const off = await attempt()({ ...c, endpointEnabled: false });
      expect(off.attempt).to.equal(null);
      expect(off.completion).to.include({ status: 'paused', attempted: false });
      expect(receiver.received.length).to.equal(before);
    });
  });

  describe('recorder', () => {
    it('writes a batch of results in one go: attempt rows, backoff columns, endpoint health; our own faults leave health alone', async () => {
      await fresh([{}, { status: 500 }, {}]);
      const { claimed } = await createClaimer({ pool, tables: t, secrets: testSecretBox(), worker: 'w' }).claim({
        limit: 3,
        timeoutSeconds: 2,
        excludeEndpoints: [],
        freeSlots: () => 3,
      });
      const run = createAttempter({ sender, settings, site: 'wp_', userAgent: 'test/1', worker: 'w' });
      const results = await Promise.all(claimed.map((c, i) => run(i === 2 ? { ...c, eventType: 'bad\u0001' } : c)));
      const recorder = createRecorder({ pool, tables: t, settings, log: silentLogger, stopping: () => false });
      await pool.query('UPDATE wp_webhook_endpoints SET failing_since = NULL');
      // Only our own fault and a success: health stays unmarked.
      recorder.record(results[2]!);
      recorder.record(results[0]!);
      expect(recorder.pending()).to.equal(2);
      await recorder.flush();
      const [[ep]] = await pool.query<RowDataPacket[]>(
        'SELECT failing_since, last_success_at FROM wp_webhook_endpoints WHERE id = ?',
        [endpointId],
      );
      expect(ep!.failing_since).to.equal(null);
      expect(ep!.last_success_at).to.not.equal(null);
      recorder.record(results[1]!);
      // The 20 ms batch timer writes it, with no flush() asked for.
      const states = async () => {
        const [rows] = await pool.query<RowDataPacket[]>(
          'SELECT status, attempts, claim_token FROM wp_webhook_deliveries WHERE id IN (?) ORDER BY id',
          [claimed.map((c) => c.id)],
        );
        return rows.map((r) => [r.status, r.attempts, r.claim_token]);
      };
      await waitFor('the batch timer writes it', async () => (await states()).every((s) => s[2] === null), 5000);
      expect(recorder.pending()).to.equal(0);
      expect(await states()).to.deep.equal([
        ['succeeded', 1, null],
        ['pending', 1, null],
        ['failed', 1, null],
      ]);
      const [attempts] = await pool.query<RowDataPacket[]>(
        'SELECT delivery_id, attempt_no, started_by, error_class FROM wp_webhook_attempts WHERE delivery_id IN (?) ORDER BY delivery_id',
        [claimed.map((c) => c.id)],
      );
      expect(attempts.map((a) => [a.attempt_no, a.started_by, a.error_class])).to.deep.equal([
        [1, 'first', null],
        [1, 'first', 'http_status'],
        [1, 'first', 'internal'],
      ]);
      const [[after]] = await pool.query<RowDataPacket[]>(
        'SELECT failing_since FROM wp_webhook_endpoints WHERE id = ?',
        [endpointId],
      );
      expect(after!.failing_since, 'a 500 from the receiver does count').to.not.equal(null);
    });

    /**
     * A database that goes away mid-write: a row lock holds the recorder's
     * write of `deliveryId` (after `record()` is called) and its connection is
     * killed. Returns the locker, still holding the lock, and a probe for a
     * write waiting on it.
     */
    async function killWriteOn(deliveryId: number, warnings: string[], record: () => void) {
      const locker = await mysql.createConnection({ uri: db.get().url });
      // The recorder's statement held up by the lock (its state varies: 'Statistics', 'Updating').
      const waiting = async () => {
        const [w] = await locker.query<RowDataPacket[]>(
          "SELECT id FROM information_schema.processlist WHERE info LIKE 'UPDATE `wp_webhook_deliveries` d%'",
        );
        return w[0] ? Number(w[0].id) : null;
      };
      await locker.query('BEGIN');
      await locker.query(`SELECT id FROM ${t.deliveries} WHERE id = ? FOR UPDATE`, [deliveryId]);
      record();
      await locker.query('KILL ?', [await waitFor('the write waits', waiting)]);
      await waitFor('the write failed', () => warnings.length > 0);
      return { locker, waiting };
    }

    async function resultsOf(rows: OutboxRowSpec[], stopping = () => false) {
      await fresh(rows);
      const { claimed } = await createClaimer({ pool, tables: t, secrets: testSecretBox(), worker: 'w' }).claim({
        limit: rows.length,
        timeoutSeconds: 2,
        excludeEndpoints: [],
        freeSlots: () => rows.length,
      });
      expect(claimed).to.have.length(rows.length);
      const run = createAttempter({ sender, settings, site: 'wp_', userAgent: 'test/1', worker: 'w' });
      const results = await Promise.all(claimed.map((c) => run(c)));
      const warnings: string[] = [];
      const recorder = createRecorder({
        pool,
        tables: t,
        settings,
        log: createLogger('warn', (l) => void warnings.push(l)),
        stopping,
      });
      /** "status claim_token" of each delivery, in id order. */
      const statuses = async () => {
        const [r] = await pool.query<RowDataPacket[]>(
          'SELECT status, claim_token FROM wp_webhook_deliveries WHERE id IN (?) ORDER BY id',
          [claimed.map((c) => c.id)],
        );
        return r.map((x) => `${x.status} ${x.claim_token ?? 'unclaimed'}`);
      };
      return { results, warnings, recorder, statuses };
    }

    it('keeps results the database refused and retries them, and writes results that came in during the retry at once', async () => {
      const { results, warnings, recorder, statuses } = await resultsOf([{}, {}]);
      const [first, second] = results;
      // The first write loses its connection: kept, and retried after a pause.
      const { locker, waiting } = await killWriteOn(first!.completion.id, warnings, () => recorder.record(first!));
      try {
        expect(recorder.pending()).to.equal(1);
        // The retry waits on the lock too; the second result comes in while it is under way.
        await waitFor('the retry waits', waiting);
        recorder.record(second!);
        await locker.query('COMMIT');
        // Written by the recorder itself, without another result to set it going.
        await waitFor(
          'both results written',
          async () => (await statuses()).join(', ') === 'succeeded unclaimed, succeeded unclaimed',
          2000,
        );
      } finally {
        await locker.end();
      }
      expect(recorder.pending()).to.equal(0);
    });

    /**
     * 300 results with 64 KB response bodies of quotes (escaped: 128 KB each,
     * about 39 MB in one statement), all recorded while the first write is
     * held and killed: the recorder holds them all. Returns the locker too.
     */
    async function bigBacklogHeld(stopping?: () => boolean) {
      const before = settings.current().responseBodyMaxBytes;
      await settings.update({ responseBodyMaxBytes: 65536 });
      let held: Awaited<ReturnType<typeof resultsOf>>;
      try {
        held = await resultsOf(
          Array.from({ length: 300 }, () => ({ bodyBytes: 65536 })),
          stopping,
        );
      } finally {
        await settings.update({ responseBodyMaxBytes: before });
      }
      const { results, warnings, recorder } = held;
      expect(results[0]!.attempt!.responseBody).to.have.length(65536);
      const { locker } = await killWriteOn(results[0]!.completion.id, warnings, () =>
        results.forEach((r) => recorder.record(r)),
      );
      return { ...held, locker };
    }

    it('writes a backlog held through an outage in several transactions, none over max_allowed_packet', async () => {
      const { warnings, recorder, statuses, locker } = await bigBacklogHeld();
      try {
        expect(recorder.pending()).to.equal(300);
        await locker.query('COMMIT');
        await waitFor(
          'the backlog written',
          async () => (await statuses()).every((x) => x === 'succeeded unclaimed'),
          15_000,
          200,
        );
      } finally {
        await locker.end();
      }
      expect(recorder.pending()).to.equal(0);
      expect(warnings, 'only the killed write failed').to.have.length(1);
    });

    it('when stopping, a failed write is the last: one error counts every result still held, and none is left behind', async () => {
      const { results, warnings, recorder, statuses, locker } = await bigBacklogHeld(() => true);
      await locker.query('COMMIT');
      await locker.end();
      await recorder.flush();
      expect(recorder.pending()).to.equal(0);
      expect(warnings).to.have.length(1);
      expect(JSON.parse(warnings[0]!)).to.include({
        level: 'error',
        msg: 'could not record delivery results; they will be sent again when their leases expire',
        count: 300,
      });
      expect(new Set(await statuses()), 'all left to their leases').to.deep.equal(
        new Set([`pending ${results[0]!.completion.claimToken}`]),
      );
    });
  });

  describe('fan-out loop (each tick)', () => {
    const newLoop = (over: Partial<Parameters<typeof createFanOutLoop>[0]> = {}) =>
      createFanOutLoop({
        pool,
        tables: t,
        settings,
        log: silentLogger,
        pace: () => settings.current().maxDeliveriesPerSecond,
        stopping: () => false,
        pump: () => undefined,
        ...over,
      });

    it('fans out batch after batch until the outbox is drained, asks for a claim after each, and stops between batches', async () => {
      await fresh([]);
      await insertOutbox(
        pool,
        Array.from({ length: 1200 }, (_, i) => ({ type: 'fanout.loop', payload: { i } })),
      );
      let pumps = 0;
      let stopping = false;
      const loop = newLoop({ stopping: () => stopping, pump: () => pumps++ });
      await loop.run();
      const [[o]] = await pool.query<RowDataPacket[]>(
        "SELECT SUM(fanned_out_at IS NULL) AS waiting, COUNT(*) AS n FROM wp_webhook_outbox WHERE event_type = 'fanout.loop'",
      );
      expect(Number(o!.waiting), 'every row fanned out in one run').to.equal(0);
      expect(Number(o!.n)).to.equal(1200);
      expect(pumps, 'one claim asked for per batch of 500').to.equal(3);
      expect(await due()).to.equal(1200);

      await insertOutbox(
        pool,
        Array.from({ length: 600 }, (_, i) => ({ type: 'fanout.loop', payload: { i } })),
      );
      stopping = true;
      await loop.run();
      const [[left]] = await pool.query<RowDataPacket[]>(
        "SELECT SUM(fanned_out_at IS NULL) AS waiting FROM wp_webhook_outbox WHERE event_type = 'fanout.loop'",
      );
      expect(Number(left!.waiting), 'a stopping process starts no batch').to.equal(600);
      loop.stop();
    });

    it('fans out at the pace when paced: a second of it at once (at least 100), then what the pace has added', async () => {
      await fresh([]);
      await pool.query('UPDATE wp_webhook_outbox SET fanned_out_at = NOW(3) WHERE fanned_out_at IS NULL');
      await insertOutbox(
        pool,
        Array.from({ length: 700 }, (_, i) => ({ type: 'fanout.paced', payload: { i } })),
      );
      const loop = newLoop();
      const waiting = async () => {
        const [[o]] = await pool.query<RowDataPacket[]>(
          'SELECT COUNT(*) AS n FROM wp_webhook_outbox WHERE fanned_out_at IS NULL',
        );
        return Number(o!.n);
      };
      try {
        await settings.update({ maxDeliveriesPerSecond: 250 });
        const t0 = Date.now();
        await loop.run();
        expect(await waiting(), 'one run at 250/s').to.equal(450);
        await loop.run();
        const left = await waiting();
        // At 250/s the bucket refills one delivery every 4 ms: the second run fans out only what the time since the first added.
        expect(450 - left, 'right after').to.be.at.most(Math.ceil(((Date.now() - t0) * 250) / 1000) + 1);
      } finally {
        await settings.update({ maxDeliveriesPerSecond: 0 });
        loop.stop();
      }
      await loop.run();
      expect(await waiting(), 'unpaced, the rest in one run').to.equal(0);
    });

    it('rejects when the database refuses the batch, so the dispatcher backs off', async () => {
      const broken = { ...t, outbox: '`wp_no_such_outbox`' };
      const loop = newLoop({ tables: broken });
      let err: unknown = null;
      await loop.run().catch((e: unknown) => (err = e));
      expect((err as { code?: string } | null)?.code).to.equal('ER_NO_SUCH_TABLE');
    });
  });
});
