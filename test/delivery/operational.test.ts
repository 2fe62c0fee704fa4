/**
 * Operational events, for real: delivered to webhook.* subscribers (never to
 * `*`, never to the endpoint they are about), and mailed through a local SMTP
 * server (smtp-server) at most once per endpoint per hour; a mail server that
 * is down changes nothing for delivery.
 */
import { expect } from 'chai';
import { SMTPServer } from 'smtp-server';
import type { RowDataPacket } from 'mysql2/promise';
import { insertOutbox, useTestDb } from '../support/db.js';
import {
  ADMIN_PASSWORD,
  FAST_RETRIES,
  apiClient,
  deliveriesSettled,
  startInProcess,
  type Api,
} from '../support/sidecar.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { freePort } from '../support/net.js';
import { Client } from '../support/browserless.js';
import { sleep, waitFor } from '../support/wait.js';
import type { Sidecar } from '../../src/sidecar.js';

describe('operational events and mail', function () {
  this.timeout(60_000);
  const db = useTestDb('operational');
  const mails: { to: string; text: string }[] = [];
  let smtp: SMTPServer;
  let sidecar: Sidecar;
  let api: Api;
  const receivers: Receiver[] = [];
  const receiver = async (...args: Parameters<typeof startReceiver>) => {
    const r = await startReceiver(...args);
    receivers.push(r);
    return r;
  };

  before(async () => {
    const port = await freePort();
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, cb) {
        let text = '';
        stream.on('data', (c: Buffer) => (text += c.toString()));
        stream.on('end', () => {
          mails.push({ to: session.envelope.rcptTo.map((r) => r.address).join(','), text });
          cb();
        });
      },
    });
    await new Promise<void>((r) => smtp.listen(port, '127.0.0.1', r));
    sidecar = await startInProcess(db.get().url, {
      SMTP_URL: `smtp://127.0.0.1:${port}`,
      NOTIFY_EMAIL: 'ops@example.com',
    });
    api = apiClient(sidecar.url);
    expect((await api('PATCH', '/api/settings', FAST_RETRIES)).status).to.equal(200);
    db.get().beforeDrop(async () => {
      await sidecar.stop();
      for (const r of receivers.splice(0)) await r.close();
      await new Promise<void>((r) => smtp.close(() => r()));
    });
  });
  afterEach(async () => {
    for (const e of (await api('GET', '/api/endpoints')).body.data) await api('DELETE', `/api/endpoints/${e.id}`);
    mails.length = 0;
  });

  const endpoint = async (url: string, events: string[], extra: Record<string, unknown> = {}) => {
    const res = await api('POST', '/api/endpoints', { url, events, confirm: true, ...extra });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    return res.body as { id: number };
  };
  const events = (r: Receiver, type: string) => r.received.filter((x) => x.json.event === type);

  it('a 410 disables the endpoint: webhook.* subscribers get webhook.endpoint_disabled, * subscribers nothing, one mail goes out', async () => {
    const gone = await receiver(() => ({ status: 410 }));
    const watcher = await receiver();
    const everything = await receiver();
    const ep = await endpoint(`${gone.url}/gone`, ['order.created']);
    await endpoint(`${watcher.url}/ops`, ['webhook.*']);
    await endpoint(`${everything.url}/all`, ['*']);
    await insertOutbox(db.get().pool, [{ type: 'order.created', payload: { n: 1 } }]);

    await waitFor('disabled event delivered', () => events(watcher, 'webhook.endpoint_disabled').length === 1);
    const e = events(watcher, 'webhook.endpoint_disabled')[0]!;
    expect(e.json.data).to.deep.include({
      endpoint_id: ep.id,
      url: `${gone.url}/gone`,
      reason: 'the endpoint answered 410 Gone',
    });
    expect(e.headers['webhook-signature']).to.match(/^v1,/);
    await waitFor('one mail', () => mails.length === 1);
    expect(mails[0]!.to).to.equal('ops@example.com');
    expect(mails[0]!.text)
      .to.contain(`Endpoint ${ep.id}`)
      .and.contain('was disabled')
      .and.contain('the endpoint answered 410 Gone')
      .and.contain(`${sidecar.url}/admin/endpoints/${ep.id}`);
    await sleep(500);
    expect(
      everything.received.map((r) => r.json.event),
      '* does not ask for operational events',
    ).to.deep.equal(['order.created']);
    expect(
      gone.received.map((r) => r.json.event),
      'never about itself',
    ).to.deep.equal(['order.created']);

    // The banner on every page names it.
    const c = new Client(sidecar.url);
    expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
    expect((await c.get('/admin/deliveries')).text).to.match(
      new RegExp(`id="trouble".*href="/admin/endpoints/${ep.id}">Endpoint ${ep.id}`),
    );
    const missing = await c.get('/admin/no-such-page');
    expect(missing.status).to.equal(404);
    expect(missing.text).to.contain('there is no page at /admin/no-such-page').and.contain('id="trouble"');
  });

  it('failing for an hour, then recovered; a delivery that runs out of retries; at most one mail per endpoint per hour', async () => {
    let fail = true;
    const flaky = await receiver(() => ({ status: fail ? 500 : 200 }));
    const watcher = await receiver();
    const ep = await endpoint(`${flaky.url}/flaky`, ['order.created']);
    await endpoint(`${watcher.url}/ops`, [
      'webhook.endpoint_failing',
      'webhook.endpoint_recovered',
      'webhook.delivery_failed',
    ]);
    await insertOutbox(db.get().pool, [{ type: 'order.created', payload: { n: 1 } }]);
    await waitFor('first failure recorded', async () => {
      const [[r]] = await db
        .get()
        .pool.query<RowDataPacket[]>('SELECT failing_since FROM wp_webhook_endpoints WHERE id = ?', [ep.id]);
      return r!.failing_since !== null;
    });
    // Move the endpoint's clock: it has been failing for two hours.
    await db
      .get()
      .pool.query('UPDATE wp_webhook_endpoints SET failing_since = NOW(3) - INTERVAL 2 HOUR WHERE id = ?', [ep.id]);
    await waitFor('failing reported', () => events(watcher, 'webhook.endpoint_failing').length === 1, 10_000);
    // Its own page says so at the top: state, last error with the receiver's answer.
    const c = new Client(sidecar.url);
    expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
    const health =
      /<section class="card" id="health"[\s\S]*?<\/section>/.exec(
        (await c.get(`/admin/endpoints/${ep.id}`)).text,
      )?.[0] ?? '';
    expect(health)
      .to.contain('<span class="badge badge--bad">failing</span> since')
      .and.contain('HTTP 500')
      .and.contain('Last success</dt><dd>never');
    await waitFor('retries used up', () => events(watcher, 'webhook.delivery_failed').length === 1, 10_000);
    const failed = events(watcher, 'webhook.delivery_failed')[0]!.json.data as Record<string, unknown>;
    expect(failed).to.include({ endpoint_id: ep.id, event_type: 'order.created', attempts: 3, last_status_code: 500 });

    fail = false;
    await insertOutbox(db.get().pool, [{ type: 'order.created', payload: { n: 2 } }]);
    await waitFor('recovered', () => events(watcher, 'webhook.endpoint_recovered').length === 1, 10_000);
    await deliveriesSettled(db.get().pool);
    expect(events(watcher, 'webhook.endpoint_failing'), 'reported once per failing episode').to.have.length(1);
    // Three events about one endpoint within the hour: one mail.
    await waitFor('a mail', () => mails.length >= 1);
    await sidecar.notifier!.idle();
    expect(mails).to.have.length(1);
    expect(mails[0]!.text).to.contain('is failing');
  });

  it('reports an endpoint failing for an hour from the minute sweep when its next attempt is hours away', async () => {
    const down = await receiver(() => ({ status: 503 }));
    const watcher = await receiver();
    const ep = await endpoint(`${down.url}/late`, ['order.created'], { retry_schedule_seconds: [7200] });
    await endpoint(`${watcher.url}/ops`, ['webhook.endpoint_failing']);
    await insertOutbox(db.get().pool, [{ type: 'order.created', payload: { n: 9 } }]);
    await waitFor('first failure recorded', async () => {
      const [[r]] = await db
        .get()
        .pool.query<RowDataPacket[]>('SELECT failing_since FROM wp_webhook_endpoints WHERE id = ?', [ep.id]);
      return r!.failing_since !== null;
    });
    await db
      .get()
      .pool.query('UPDATE wp_webhook_endpoints SET failing_since = NOW(3) - INTERVAL 2 HOUR WHERE id = ?', [ep.id]);
    // The retry is two hours away, so no failure will report it; the sweep (every minute; called here) does.
    await sidecar.dispatcher.sweep();
    await waitFor('reported by the sweep', () => events(watcher, 'webhook.endpoint_failing').length === 1);
    expect(events(watcher, 'webhook.endpoint_failing')[0]!.json.data).to.include({ endpoint_id: ep.id });
    // Once per spell: a second sweep, or another process's, finds it reported.
    await sidecar.dispatcher.sweep();
    await deliveriesSettled(db.get().pool);
    expect(events(watcher, 'webhook.endpoint_failing')).to.have.length(1);
    expect(down.received).to.have.length(1);
    await waitFor('one mail', () => mails.length === 1);
  });

  it('an operator disabling an endpoint is reported too', async () => {
    const watcher = await receiver();
    const ep = await endpoint('https://crm.example.com/hook', ['order.created']);
    await endpoint(`${watcher.url}/ops`, ['webhook.endpoint_disabled']);
    expect((await api('PATCH', `/api/endpoints/${ep.id}`, { enabled: false })).status).to.equal(200);
    await waitFor('reported', () => events(watcher, 'webhook.endpoint_disabled').length === 1);
    expect(events(watcher, 'webhook.endpoint_disabled')[0]!.json.data).to.include({
      endpoint_id: ep.id,
      reason: 'disabled by an operator',
    });
  });

  it('stats count what was sent, per hour or per day, and the endpoint page draws them', async () => {
    const r = await receiver((x) => ({ status: (x.json.data as { n: number }).n === 4 ? 500 : 200, delayMs: 30 }));
    const ep = await endpoint(`${r.url}/stats`, ['quiz.submitted']);
    await insertOutbox(
      db.get().pool,
      [1, 2, 3, 4].map((n) => ({ type: 'quiz.submitted', payload: { n } })),
    );
    await waitFor(
      'retries used up',
      async () => (await api('GET', `/api/deliveries?endpoint_id=${ep.id}&status=failed`)).body.data.length === 1,
      15_000,
    );
    const sum = (data: { attempts: number; successes: number; failures: number }[]) =>
      data.reduce(
        (a, b) => ({
          attempts: a.attempts + b.attempts,
          successes: a.successes + b.successes,
          failures: a.failures + b.failures,
        }),
        { attempts: 0, successes: 0, failures: 0 },
      );
    const hourly = (await api('GET', `/api/endpoints/${ep.id}/stats?days=1`)).body;
    expect(hourly).to.include({ endpoint_id: ep.id, days: 1, unit: 'hour' });
    expect(hourly.data).to.have.length(24);
    expect(sum(hourly.data)).to.deep.equal({ attempts: 6, successes: 3, failures: 3 }); // 3 sent once, 1 tried 3 times
    const busy = hourly.data.find((b: { attempts: number }) => b.attempts > 0);
    expect(busy.p50_ms).to.be.oneOf([50, 100, 250]); // 30 ms replies: the 50 ms band, or above on a slow machine
    expect(busy.p95_ms).to.be.at.least(busy.p50_ms);
    const daily = (await api('GET', `/api/endpoints/${ep.id}/stats`)).body;
    expect(daily).to.include({ days: 7, unit: 'day' });
    expect(sum(daily.data)).to.deep.equal({ attempts: 6, successes: 3, failures: 3 });
    expect((await api('GET', `/api/endpoints/${ep.id}/stats?days=0`)).body.error.message).to.contain(
      'days must be greater than or equal to 1',
    );

    const c = new Client(sidecar.url);
    expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
    const page = (await c.get(`/admin/endpoints/${ep.id}`)).text;
    expect(page).to.contain('<strong>50.0%</strong> of 6 attempts succeeded (3 failed)');
    expect(page).to.match(
      /<svg class="stats-chart"[^>]*aria-label="Attempts per day: 50\.0% of 6 attempts succeeded\."/,
    );
  });

  it('a mail server that is down changes nothing for delivery', async () => {
    const dead = await freePort();
    const other = await startInProcess(db.get().url, {
      SMTP_URL: `smtp://127.0.0.1:${dead}`,
      NOTIFY_EMAIL: 'ops@example.com',
    });
    try {
      await sidecar.dispatcher.stop(); // only the other process delivers
      const gone = await receiver(() => ({ status: 410 }));
      const watcher = await receiver();
      const ok = await receiver();
      const otherApi = apiClient(other.url);
      for (const [url, ev] of [
        [`${gone.url}/g`, ['order.created']],
        [`${watcher.url}/w`, ['webhook.*']],
        [`${ok.url}/o`, ['order.created']],
      ] as const) {
        expect((await otherApi('POST', '/api/endpoints', { url, events: ev, confirm: true })).status).to.equal(201);
      }
      await insertOutbox(
        db.get().pool,
        Array.from({ length: 20 }, (_, n) => ({ type: 'order.created', payload: { n } })),
      );
      await waitFor(
        'delivered and reported',
        () => ok.received.length === 20 && events(watcher, 'webhook.endpoint_disabled').length === 1,
        15_000,
      );
    } finally {
      await other.stop();
    }
  });
});
