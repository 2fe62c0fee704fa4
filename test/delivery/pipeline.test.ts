/**
 * End to end in one process: LMS rows inserted with SQL into the real
 * MariaDB, delivered by the real loop to real receivers on 127.0.0.1.
 */
import { expect } from 'chai';
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { verifyWebhook } from '../../src/verify.js';
import type { RowDataPacket } from 'mysql2/promise';
import { insertOutbox, useTestDb } from '../support/db.js';
import type { Reply } from '../support/receiver.js';
import { FAST_RETRIES, ticksPass, useSidecar } from '../support/sidecar.js';
import { waitFor, sleep } from '../support/wait.js';

describe('delivery pipeline (real MariaDB, real receivers)', function () {
  this.timeout(60_000);
  const db = useTestDb('pipeline');
  const fx = useSidecar(db);
  const { api, receiver, endpoint } = fx;

  async function deliveriesOf(endpointId: number) {
    const res = await api('GET', `/api/deliveries?endpoint_id=${endpointId}&limit=200`);
    return res.body.data as { id: number; status: string; attempts: number; event_id: string; event_type: string }[];
  }

  async function detail(id: number) {
    return (await api('GET', `/api/deliveries/${id}`)).body;
  }

  before(async () => {
    expect((await api('PATCH', '/api/settings', FAST_RETRIES)).status).to.equal(200);
  });

  afterEach(async () => {
    await fx.reset();
    await api('PATCH', '/api/settings', FAST_RETRIES);
  });

  it('delivers an outbox row with headers that both verifiers accept', async () => {
    const r = await receiver();
    const ep = await endpoint(`${r.url}/hook`, ['enrollment.created']);
    await insertOutbox(db.get().pool, [
      { type: 'enrollment.created', payload: { student_id: 'student_xyz789', course_id: 'course_abc123' } },
    ]);
    const got = await waitFor('one request', () => r.received[0]);

    expect(got.json.event).to.equal('enrollment.created');
    expect(got.json.id).to.match(/^evt_/);
    expect(got.json.created_at).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(got.json.data).to.deep.equal({ student_id: 'student_xyz789', course_id: 'course_abc123' });
    expect(got.headers['content-type']).to.equal('application/json');
    expect(got.headers['user-agent']).to.match(/^lms-webhooks-sidecar\/\d+\.\d+\.\d+$/);
    expect(got.headers['x-webhook-id']).to.equal(got.json.id);
    expect(got.headers['webhook-id']).to.equal(got.json.id);
    expect(got.headers['x-webhook-event']).to.equal('enrollment.created');
    expect(Math.abs(Number(got.headers['x-webhook-timestamp']) - Date.now() / 1000)).to.be.lessThan(30);

    // The contract's snippet, on the raw bytes received.
    const expected = createHmac('sha256', ep.secret).update(got.raw).digest('hex');
    expect(timingSafeEqual(Buffer.from(String(got.headers['x-webhook-signature'])), Buffer.from(expected))).to.equal(
      true,
    );
    // An independent Standard Webhooks library.
    expect(() =>
      new Webhook(ep.secret).verify(got.raw.toString('utf8'), got.headers as Record<string, string>),
    ).to.not.throw();

    const [d] = await waitFor('delivery succeeded', async () =>
      (await deliveriesOf(ep.id)).filter((x) => x.status === 'succeeded'),
    );
    const full = await detail(d!.id);
    expect(full.attempt_log).to.have.length(1);
    expect(full.attempt_log[0]).to.include({ outcome: 'success', status_code: 200 });
    expect(full.payload.id).to.equal(got.json.id);
  });

  it('fans out to exact, wildcard and * subscribers, and records paused deliveries for disabled endpoints', async () => {
    const r = await receiver();
    const exact = await endpoint(`${r.url}/exact`, ['order.created']);
    const wild = await endpoint(`${r.url}/wild`, ['order.*']);
    const all = await endpoint(`${r.url}/all`, ['*']);
    const pay = await endpoint(`${r.url}/pay`, ['payment.*', 'order.refunded']);
    const off = await endpoint(`${r.url}/off`, ['*'], { enabled: false });
    await insertOutbox(db.get().pool, [
      { type: 'order.created', payload: { order_id: 1 } },
      { type: 'payment.failed', payload: { payment_id: 2 } },
      { type: 'student.registered', payload: { student_id: 3 } },
    ]);
    await waitFor('6 requests', () => r.received.length >= 6);
    await sleep(300);
    const byPath = (p: string) =>
      r.received
        .filter((x) => x.path === p)
        .map((x) => x.json.event)
        .sort();
    expect(byPath('/exact')).to.deep.equal(['order.created']);
    expect(byPath('/wild')).to.deep.equal(['order.created']);
    expect(byPath('/all')).to.deep.equal(['order.created', 'payment.failed', 'student.registered']);
    expect(byPath('/pay')).to.deep.equal(['payment.failed']);
    expect(byPath('/off')).to.deep.equal([]);
    const paused = await deliveriesOf(off.id);
    expect(paused.map((d) => d.status)).to.deep.equal(['paused', 'paused', 'paused']);
    for (const e of [exact, wild, all, pay])
      expect((await deliveriesOf(e.id)).every((d) => d.status === 'succeeded')).to.equal(true);

    // Re-enabling sends what was recorded while it was off, with the same event ids.
    const ids = r.received
      .filter((x) => x.path === '/all')
      .map((x) => x.json.id)
      .sort();
    expect((await api('PATCH', `/api/endpoints/${off.id}`, { enabled: true })).body.resumed_deliveries).to.equal(3);
    await waitFor('paused deliveries sent', () => r.received.filter((x) => x.path === '/off').length === 3);
    expect(
      r.received
        .filter((x) => x.path === '/off')
        .map((x) => x.json.id)
        .sort(),
    ).to.deep.equal(ids);
  });

  it('retries a 500 with the same event id and body, and logs both attempts', async () => {
    const r = await receiver((req) => (req.n === 1 ? { status: 500, body: 'boom <b>' } : { status: 200 }));
    const ep = await endpoint(r.url, ['course.published']);
    await insertOutbox(db.get().pool, [{ type: 'course.published', payload: { course_id: 'c1' } }]);
    await waitFor('two requests', () => r.received.length >= 2);
    expect(r.received[1]!.json.id).to.equal(r.received[0]!.json.id);
    expect(r.received[1]!.raw.equals(r.received[0]!.raw)).to.equal(true);
    expect(r.received[1]!.headers['x-webhook-signature']).to.equal(r.received[0]!.headers['x-webhook-signature']);
    const [d] = await waitFor('succeeded', async () =>
      (await deliveriesOf(ep.id)).filter((x) => x.status === 'succeeded'),
    );
    const full = await detail(d!.id);
    expect(full.attempts).to.equal(2);
    expect(full.attempt_log.map((a: { status_code: number }) => a.status_code)).to.deep.equal([500, 200]);
    expect(full.attempt_log[0]).to.include({ outcome: 'failure', error_class: 'http_status' });
    expect(full.attempt_log[0].response.body).to.equal('boom <b>');
  });

  it('records a timeout and a refused connection as failed attempts, then fails the delivery', async () => {
    await api('PATCH', '/api/settings', { timeout_seconds: 1, retry_schedule_seconds: [1] });
    const hanging = await receiver(() => ({ hang: true }));
    const closed = http.createServer();
    await new Promise<void>((res) => closed.listen(0, '127.0.0.1', res));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((res) => closed.close(() => res()));

    const slow = await endpoint(hanging.url, ['quiz.submitted']);
    const dead = await endpoint(`http://127.0.0.1:${deadPort}/`, ['quiz.submitted']);
    await insertOutbox(db.get().pool, [{ type: 'quiz.submitted', payload: { quiz: 1 } }]);

    for (const [ep, cls] of [
      [slow, 'timeout'],
      [dead, 'connection'],
    ] as const) {
      const [d] = await waitFor(
        `${cls} delivery failed`,
        async () => (await deliveriesOf(ep.id)).filter((x) => x.status === 'failed'),
        20_000,
      );
      const full = await detail(d!.id);
      expect(full.attempts).to.equal(2);
      expect(full.attempt_log.map((a: { error_class: string }) => a.error_class)).to.deep.equal([cls, cls]);
      expect(full.last_error).to.match(new RegExp(`^${cls}:`));
    }
    expect(hanging.received.length).to.equal(2);
  });

  it('delivers a row whose transaction commits after a row with a higher id', async () => {
    const r = await receiver();
    await endpoint(r.url, ['lesson.completed']);
    const slowTx = await db.get().pool.getConnection();
    try {
      await slowTx.beginTransaction();
      await insertOutbox(slowTx, [{ type: 'lesson.completed', payload: { order: 'first-id-committed-last' } }]);
      await insertOutbox(db.get().pool, [
        { type: 'lesson.completed', payload: { order: 'second-id-committed-first' } },
      ]);
      await waitFor('the higher id delivered', () => r.received.length === 1);
      const [[ids]] = await slowTx.query<RowDataPacket[]>(
        "SELECT MIN(id) AS lo, MAX(id) AS hi FROM wp_webhook_outbox WHERE event_type = 'lesson.completed'",
      );
      expect(ids!.hi).to.be.greaterThan(ids!.lo);
      await ticksPass(fx.sidecar); // ticks pass while the lower id is still uncommitted
      expect(r.received.length).to.equal(1);
      await slowTx.commit();
    } finally {
      slowTx.release();
    }
    await waitFor('the lower id delivered after its late commit', () => r.received.length === 2);
    expect(r.received.map((x) => (x.json.data as { order: string }).order)).to.deep.equal([
      'second-id-committed-first',
      'first-id-committed-last',
    ]);
  });

  it('rejects bad outbox rows with a reason while the rows after them go', async () => {
    await api('PATCH', '/api/settings', { max_payload_bytes: 1024 });
    const r = await receiver();
    await endpoint(r.url, ['certificate.issued']);
    await insertOutbox(db.get().pool, [
      { type: 'certificate.issued', payload: '{"not json' },
      { type: 'certificate.issued', payload: { big: 'x'.repeat(2000) } },
      { type: '', payload: {} },
      { type: 'certificate.issued', payload: { certificate_id: 'ok' } },
    ]);
    await waitFor('the good row delivered', () => r.received.length === 1);
    expect(r.received[0]!.json.data).to.deep.equal({ certificate_id: 'ok' });
    const [rows] = await db
      .get()
      .pool.query<RowDataPacket[]>(
        "SELECT rejected_reason, fanned_out_at FROM wp_webhook_outbox WHERE event_type IN ('certificate.issued', '') ORDER BY id",
      );
    expect(rows.map((x) => x.fanned_out_at !== null)).to.deep.equal([true, true, true, true]);
    expect(rows[0]!.rejected_reason).to.match(/^payload is not valid JSON/);
    expect(rows[1]!.rejected_reason).to.match(/over the max_payload_bytes limit of 1024/);
    expect(rows[2]!.rejected_reason).to.equal('event_type is empty');
    expect(rows[3]!.rejected_reason).to.equal(null);
  });

  it('keeps the LMS event_id, and rejects a second row reusing one', async () => {
    const r = await receiver();
    await endpoint(r.url, ['order.completed']);
    await insertOutbox(db.get().pool, [{ type: 'order.completed', payload: { n: 1 }, eventId: 'evt_from_lms_1' }]);
    await waitFor('delivered', () => r.received.length === 1);
    expect(r.received[0]!.json.id).to.equal('evt_from_lms_1');
    await db.get().pool.query("UPDATE wp_webhook_outbox SET event_id = NULL WHERE event_id = 'evt_from_lms_1'");
    await insertOutbox(db.get().pool, [{ type: 'order.completed', payload: { n: 2 }, eventId: 'evt_from_lms_1' }]);
    await waitFor('second row stamped', async () => {
      const [rows] = await db
        .get()
        .pool.query<RowDataPacket[]>(
          "SELECT rejected_reason FROM wp_webhook_outbox WHERE event_type = 'order.completed' ORDER BY id DESC LIMIT 1",
        );
      return rows[0]?.rejected_reason;
    });
    expect(r.received.length).to.equal(1);
  });

  it('does not follow redirects, honours Retry-After, and disables the endpoint on 410', async () => {
    await api('PATCH', '/api/settings', { retry_schedule_seconds: [1, 1, 1] });
    const r = await receiver((req): Reply => {
      if (req.path === '/redirect') return { status: 302, headers: { location: '/elsewhere' } };
      if (req.path === '/busy') return { status: 429, headers: { 'retry-after': '30' } };
      return { status: 410 };
    });
    const redirect = await endpoint(`${r.url}/redirect`, ['order.refunded']);
    const busy = await endpoint(`${r.url}/busy`, ['order.refunded']);
    const gone = await endpoint(`${r.url}/gone`, ['order.refunded']);
    await insertOutbox(db.get().pool, [{ type: 'order.refunded', payload: { order_id: 9 } }]);
    await waitFor('three first attempts', () => r.received.length >= 3);
    await sleep(1500);

    expect(r.received.filter((x) => x.path === '/elsewhere')).to.have.length(0);
    const [rd] = await deliveriesOf(redirect.id);
    expect((await detail(rd!.id)).attempt_log[0].error_message).to.match(/302: redirects are not followed/);

    const [bd] = await deliveriesOf(busy.id);
    const b = await detail(bd!.id);
    expect(b.attempts).to.equal(1);
    const waitMs = Date.parse(b.next_attempt_at) - Date.parse(b.last_attempt_at);
    expect(waitMs).to.be.within(29_000, 31_000);

    const g = (await api('GET', `/api/endpoints/${gone.id}`)).body;
    expect(g.enabled).to.equal(false);
    expect(g.disabled_reason).to.match(/410 Gone/);
    const [gd] = await deliveriesOf(gone.id);
    expect(gd!.status).to.equal('paused');
  });

  it('replays a delivery with the same event id, and replays failed ones since a time', async () => {
    await api('PATCH', '/api/settings', { retry_schedule_seconds: [], confirm: true });
    let fail = true;
    const r = await receiver(() => ({ status: fail ? 500 : 200 }));
    const ep = await endpoint(r.url, ['subscription.renewed']);
    await insertOutbox(db.get().pool, [
      { type: 'subscription.renewed', payload: { s: 1 } },
      { type: 'subscription.renewed', payload: { s: 2 } },
    ]);
    await waitFor(
      'both failed',
      async () => (await deliveriesOf(ep.id)).filter((x) => x.status === 'failed').length === 2,
    );
    fail = false;
    const [first] = await deliveriesOf(ep.id);
    const replay = await api('POST', `/api/deliveries/${first!.id}/replay`);
    expect(replay.status).to.equal(202);
    await waitFor('replayed', () => r.received.length === 3);
    expect(r.received[2]!.json.id).to.equal(first!.event_id);

    const since = new Date(Date.now() - 60_000).toISOString();
    const bulk = await api('POST', `/api/endpoints/${ep.id}/replay-failed`, { since });
    expect(bulk.body).to.deep.equal({ replayed: 1 });
    await waitFor('all succeeded', async () => (await deliveriesOf(ep.id)).every((x) => x.status === 'succeeded'));
    expect(new Set(r.received.map((x) => x.json.id)).size).to.equal(2);
  });

  it('keeps receivers on the old and on the new secret working through a rotation, with the hex snippet alone', async () => {
    const r = await receiver();
    const ep = await endpoint(r.url, ['student.updated']);
    const rotated = (await api('POST', `/api/endpoints/${ep.id}/rotate-secret`, { grace_hours: 24 })).body;
    expect(rotated.secret)
      .to.match(/^whsec_/)
      .and.not.equal(ep.secret);
    expect(Date.parse(rotated.previous_secret_expires_at) - Date.now()).to.be.within(23.9 * 3600_000, 24 * 3600_000);
    // The README's simple receiver: hex HMAC of the raw body, compared in constant time.
    const hexOk = (secret: string, raw: Buffer, header: unknown) => {
      const expected = createHmac('sha256', secret).update(raw).digest('hex');
      return (
        typeof header === 'string' &&
        header.length === expected.length &&
        timingSafeEqual(Buffer.from(header), Buffer.from(expected))
      );
    };
    expect((await api('POST', `/api/endpoints/${ep.id}/test`)).status).to.equal(202);
    await insertOutbox(db.get().pool, [{ type: 'student.updated', payload: { during: true } }]);
    await waitFor('two during the grace period', () => r.received.length >= 2);
    for (const got of r.received) {
      expect(
        hexOk(ep.secret, got.raw, got.headers['x-webhook-signature']),
        'old secret via X-Webhook-Signature',
      ).to.equal(true);
      expect(
        hexOk(rotated.secret, got.raw, got.headers['x-webhook-signature-next']),
        'new secret via X-Webhook-Signature-Next',
      ).to.equal(true);
      expect(String(got.headers['webhook-signature']).split(' ')).to.have.length(2);
      for (const secret of [ep.secret, rotated.secret])
        expect(() =>
          new Webhook(secret).verify(got.raw.toString(), got.headers as Record<string, string>),
        ).to.not.throw();
      for (const secret of [ep.secret, rotated.secret])
        expect(() =>
          verifyWebhook(secret, got.raw, {
            'x-webhook-signature': String(got.headers['x-webhook-signature']),
            'x-webhook-signature-next': String(got.headers['x-webhook-signature-next']),
          }),
        ).to.not.throw();
    }
    // The grace period ends: the new secret takes over X-Webhook-Signature.
    await db
      .get()
      .pool.query(
        'UPDATE wp_webhook_endpoints SET previous_secret_expires_at = NOW(3) - INTERVAL 1 SECOND WHERE id = ?',
        [ep.id],
      );
    await insertOutbox(db.get().pool, [{ type: 'student.updated', payload: { after: true } }]);
    const after = await waitFor('one after the grace period', () =>
      r.received.find((x) => (x.json.data as { after?: boolean }).after),
    );
    expect(hexOk(rotated.secret, after.raw, after.headers['x-webhook-signature'])).to.equal(true);
    expect(after.headers).to.not.have.property('x-webhook-signature-next');
    expect(String(after.headers['webhook-signature']).split(' ')).to.have.length(1);
  });

  it('exposes Prometheus metrics after real deliveries', async () => {
    const r = await receiver((req) => (req.n === 1 ? { status: 503 } : { status: 200 }));
    const ep = await endpoint(r.url, ['payment.completed']);
    await insertOutbox(db.get().pool, [
      { type: 'payment.completed', payload: { p: 1 } },
      { type: 'payment.completed', payload: '{oops' },
      { type: 'payment.completed', payload: { p: 2 } },
    ]);
    await waitFor(
      'both succeeded',
      async () => (await deliveriesOf(ep.id)).filter((d) => d.status === 'succeeded').length === 2,
    );
    const text = await (await fetch(`${fx.sidecar.url}/metrics`)).text();
    const value = (re: RegExp) => Number(re.exec(text)?.[1]);
    expect(
      value(new RegExp(`webhooks_deliveries_total\\{outcome="succeeded",endpoint_id="${ep.id}"\\} (\\d+)`)),
    ).to.equal(2);
    expect(value(new RegExp(`webhooks_deliveries_total\\{outcome="retry",endpoint_id="${ep.id}"\\} (\\d+)`))).to.equal(
      1,
    );
    expect(value(/webhooks_attempt_duration_seconds_count\{result="success"\} (\d+)/)).to.be.at.least(2);
    expect(value(/webhooks_attempt_duration_seconds_count\{result="failure"\} (\d+)/)).to.be.at.least(1);
    for (const g of [
      'webhooks_deliveries_due',
      'webhooks_deliveries_pending',
      'webhooks_deliveries_failed',
      'webhooks_oldest_due_age_seconds',
      'webhooks_outbox_rows_waiting',
    ]) {
      expect(text).to.match(new RegExp(`^${g} \\d+`, 'm'));
    }
    expect(text).to.match(/^webhooks_outbox_rows_rejected_total [1-9]/m);
    expect(text).to.not.include(r.url);
  });
});
