/**
 * Receivers that misbehave, for real, and what the sidecar does about them.
 */
import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RowDataPacket } from 'mysql2/promise';
import { insertOutbox, useTestDb } from '../support/db.js';
import { ticksPass, useSidecar } from '../support/sidecar.js';
import { sleep, waitFor } from '../support/wait.js';
import { createSender } from '../../src/delivery/send.js';

describe('misbehaving receivers', function () {
  this.timeout(90_000);
  const db = useTestDb('faults');
  const fx = useSidecar(db);
  const { api, receiver, endpoint } = fx;
  const attemptsOf = async (endpointId: number) => {
    const [rows] = await db
      .get()
      .pool.query<RowDataPacket[]>(
        'SELECT a.* FROM wp_webhook_attempts a JOIN wp_webhook_deliveries d ON d.id = a.delivery_id WHERE d.endpoint_id = ? ORDER BY a.id',
        [endpointId],
      );
    return rows;
  };

  afterEach(() => fx.reset());

  it('keeps healthy endpoints flowing while one endpoint hangs', async () => {
    await api('PATCH', '/api/settings', {
      timeout_seconds: 3,
      max_in_flight_per_endpoint: 8,
      retry_schedule_seconds: [60],
      // Unpaced, so the healthy endpoint's 300 go out within the hung one's first 3 s timeouts.
      max_deliveries_per_second: 0,
    });
    const hung = await receiver(() => ({ hang: true }));
    const healthy = await receiver();
    await endpoint(hung.url, ['fair.*']);
    const ok = await endpoint(healthy.url, ['fair.*']);
    const N = 300;
    // Half the events first, so the hung endpoint's rows are the oldest due when the rest arrive.
    for (const half of [0, 1]) {
      const t = Date.now();
      await insertOutbox(
        db.get().pool,
        Array.from({ length: N / 2 }, (_, i) => ({ type: 'fair.test', payload: { i: i + half * (N / 2), t } })),
      );
      await sleep(200);
    }
    await waitFor('all healthy deliveries', () => healthy.received.length === N, 30_000);
    const latencies = healthy.received.map((r) => r.at - (r.json.data as { t: number }).t).sort((a, b) => a - b);
    const p95 = latencies[Math.floor(latencies.length * 0.95)]!;
    console.log(
      `      healthy endpoint while the other hangs: ${N} delivered, p95 ${p95} ms (timeout 3,000 ms); hung endpoint has ${hung.received.length} requests open`,
    );
    // The healthy endpoint never waited behind the hung one's 3 s timeouts.
    expect(p95).to.be.below(3000);
    expect(hung.received.length).to.be.at.most(8);
    await waitFor('all healthy deliveries recorded', async () => {
      const [[n]] = await db
        .get()
        .pool.query<RowDataPacket[]>(
          "SELECT COUNT(*) AS n FROM wp_webhook_deliveries WHERE endpoint_id = ? AND status = 'succeeded'",
          [ok.id],
        );
      return Number(n!.n) === N;
    });
  });

  it('records a slow answer, a reset connection, and a timeout each as what it was', async () => {
    await api('PATCH', '/api/settings', {
      timeout_seconds: 2,
      max_in_flight_per_endpoint: 32,
      retry_schedule_seconds: [],
    });
    const slow = await receiver(() => ({ status: 200, delayMs: 1200 }));
    const reset = await receiver(() => ({ destroy: true }));
    const hang = await receiver(() => ({ hang: true }));
    const [s, r, h] = [
      await endpoint(slow.url, ['misc.one']),
      await endpoint(reset.url, ['misc.one']),
      await endpoint(hang.url, ['misc.one']),
    ];
    await insertOutbox(db.get().pool, [{ type: 'misc.one', payload: {} }]);
    const one = async (id: number) => (await waitFor(`attempt for ${id}`, () => attemptsOf(id), 20_000))[0]!;
    const [as, ar, ah] = [await one(s.id), await one(r.id), await one(h.id)];
    expect(as).to.include({ outcome: 'success', status_code: 200 });
    expect(as.duration_ms).to.be.at.least(1150);
    expect(ar).to.include({ outcome: 'failure', error_class: 'connection' });
    expect(ar.status_code).to.equal(null);
    expect(ah).to.include({ outcome: 'failure', error_class: 'timeout' });
    expect(ah.duration_ms).to.be.within(1900, 4000);
  });

  it('reads an endless response body only up to the cap, with flat memory', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 120);
      const pump = () => {
        while (res.write(chunk)) {
          /* keep the socket full */
        }
      };
      res.on('drain', pump);
      res.on('close', () => res.off('drain', pump));
      pump();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const sender = createSender({ allowPrivateTargets: true });
    try {
      global.gc?.();
      const before = process.memoryUsage().rss;
      const results = await Promise.all(
        Array.from({ length: 40 }, () =>
          sender.send({
            url,
            headers: { 'content-type': 'application/json' },
            body: Buffer.from('{}'),
            timeoutMs: 10_000,
            keepBodyBytes: 1024,
          }),
        ),
      );
      const grownMb = (process.memoryUsage().rss - before) / 1024 / 1024;
      console.log(`      40 endless bodies read to the cap: RSS grew ${grownMb.toFixed(1)} MB`);
      for (const r of results) {
        expect(r).to.include({ ok: true, statusCode: 200 });
        expect(r.body).to.have.length(1024);
        expect(r.durationMs).to.be.below(5000);
      }
      // 40 responses × 64 KiB read cap is 2.5 MB; endless bodies kept would be unbounded.
      expect(grownMb).to.be.below(64);
    } finally {
      sender.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('disables an endpoint that failed without a success for the whole window, pausing what follows', async () => {
    await api('PATCH', '/api/settings', {
      timeout_seconds: 2,
      retry_schedule_seconds: [1, 1, 1, 1],
      auto_disable_after_hours: 120,
    });
    const r = await receiver(() => ({ status: 500 }));
    const ep = await endpoint(r.url, ['failing.*']);
    await insertOutbox(db.get().pool, [{ type: 'failing.one', payload: {} }]);
    await waitFor('first failure', () => r.received.length >= 1);
    await waitFor('failing_since set', async () => (await api('GET', `/api/endpoints/${ep.id}`)).body.failing_since);
    // Pretend the failures started six days ago rather than wait five days.
    await db
      .get()
      .pool.query('UPDATE wp_webhook_endpoints SET failing_since = NOW(3) - INTERVAL 6 DAY WHERE id = ?', [ep.id]);
    const disabled = await waitFor('auto-disabled', async () => {
      const e = (await api('GET', `/api/endpoints/${ep.id}`)).body;
      return e.enabled === false ? e : null;
    });
    expect(disabled.disabled_reason).to.match(/^failed without a success since .* \(auto-disable after 120 h\)$/);
    await insertOutbox(db.get().pool, [{ type: 'failing.two', payload: {} }]);
    await waitFor('second event recorded, paused', async () => {
      const d = (await api('GET', `/api/deliveries?endpoint_id=${ep.id}&status=paused`)).body.data;
      return d.length === 2;
    });
    const sent = r.received.length;
    await ticksPass(fx.sidecar);
    expect(r.received.length, 'nothing sent to a disabled endpoint').to.equal(sent);
    r.respond(() => ({ status: 200 }));
    expect((await api('PATCH', `/api/endpoints/${ep.id}`, { enabled: true })).body.resumed_deliveries).to.equal(2);
    await waitFor(
      'both delivered after re-enabling',
      async () => (await api('GET', `/api/deliveries?endpoint_id=${ep.id}&status=succeeded`)).body.data.length === 2,
    );
  });
});

describe('HTTPS-only setting', function () {
  this.timeout(30_000);
  const db = useTestDb('httpsonly');
  const { api, receiver } = useSidecar(db);

  it('refuses http:// URLs when saved and fails deliveries to ones saved before it was turned on', async () => {
    const r = await receiver();
    await api('PATCH', '/api/settings', { retry_schedule_seconds: [], confirm: true });
    const before = (await api('POST', '/api/endpoints', { url: r.url, events: ['*'] })).body;
    // Turning it on while an http:// endpoint exists says what it would block, and needs confirming.
    const unconfirmed = await api('PATCH', '/api/settings', { https_only: true });
    expect(unconfirmed.status).to.equal(400);
    expect(unconfirmed.body.error).to.include({ code: 'confirmation_required', field: 'https_only' });
    expect(unconfirmed.body.error.message).to.equal(
      `HTTPS only would block 1 endpoint that uses http:// (#${before.id} ${before.url}): their deliveries would fail as blocked. Change their URLs to https:// first, or confirm to save it`,
    );
    expect((await api('GET', '/api/settings')).body.https_only).to.equal(false);
    expect((await api('PATCH', '/api/settings', { https_only: true, confirm: true })).body.https_only).to.equal(true);
    const refused = await api('POST', '/api/endpoints', { url: `${r.url}/new`, events: ['*'] });
    expect(refused.status).to.equal(400);
    expect(refused.body.error.message).to.match(/must use https:\/\/ \(the HTTPS-only setting is on\)/);
    await insertOutbox(db.get().pool, [{ type: 'tls.only', payload: {} }]);
    const [d] = await waitFor(
      'failed delivery',
      async () => (await api('GET', `/api/deliveries?endpoint_id=${before.id}&status=failed`)).body.data,
    );
    expect(d.last_error).to.match(/^blocked_target: the HTTPS-only setting is on/);
    expect(r.received).to.have.length(0);
  });
});

describe('SSRF protection at connect time', function () {
  this.timeout(30_000);
  const db = useTestDb('ssrf');
  const { api, receiver } = useSidecar(db, { ALLOW_PRIVATE_TARGETS: 'false' });

  it('refuses loopback targets when they are dialled, however the URL got saved', async () => {
    const r = await receiver();
    await api('PATCH', '/api/settings', { retry_schedule_seconds: [], confirm: true });
    // Written straight into the table, as if a name had resolved publicly when it was saved.
    const urls = [
      `http://localhost:${r.port}/`,
      `http://127.0.0.1:${r.port}/`,
      `http://[::ffff:127.0.0.1]:${r.port}/`,
      `http://0x7f000001:${r.port}/`,
    ];
    for (const u of urls)
      await db
        .get()
        .pool.query(
          `INSERT INTO wp_webhook_endpoints (url, events, secret) VALUES (?, '["*"]', 'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=')`,
          [u],
        );
    await insertOutbox(db.get().pool, [{ type: 'ssrf.probe', payload: {} }]);
    const rows = await waitFor('four blocked attempts', async () => {
      const [a] = await db
        .get()
        .pool.query<RowDataPacket[]>('SELECT error_class, error_message FROM wp_webhook_attempts');
      return a.length === urls.length ? a : null;
    });
    for (const a of rows) {
      expect(a.error_class).to.equal('blocked_target');
      expect(a.error_message).to.match(/127\.0\.0\.1|::1|loopback/);
    }
    expect(r.received).to.have.length(0);
    const saved = await api('POST', '/api/endpoints', { url: `http://localhost:${r.port}/`, events: ['*'] });
    expect(saved.status).to.equal(400);
    expect(saved.body.error.message).to.match(/resolves to .*loopback/);
  });
});
