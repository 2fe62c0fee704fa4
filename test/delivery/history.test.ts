/**
 * A history that never contradicts itself, and actions that say what they
 * did: one attempt numbering through every replay, a counter equal to the
 * attempts listed, each attempt with the URL it was sent to, and replay
 * messages with counts or the reason nothing was queued.
 */
import { expect } from 'chai';
import { insertOutbox, useTestDb } from '../support/db.js';
import { ADMIN_PASSWORD, FAST_RETRIES, useSidecar } from '../support/sidecar.js';
import { Client } from '../support/browserless.js';
import { sleep, waitFor } from '../support/wait.js';

describe('delivery history and replay messages', function () {
  this.timeout(60_000);
  const db = useTestDb('history');
  const fx = useSidecar(db);
  const { api } = fx;

  before(async () => {
    expect((await api('PATCH', '/api/settings', FAST_RETRIES)).status).to.equal(200);
  });
  afterEach(() => fx.reset());

  const deliveryOf = async (endpointId: number) =>
    (await api('GET', `/api/deliveries?endpoint_id=${endpointId}`)).body.data[0];
  const failedAfter = (endpointId: number, attempts: number) =>
    waitFor(
      `failed after ${attempts} attempts`,
      async () => {
        const d = await deliveryOf(endpointId);
        return d?.status === 'failed' && d.attempts === attempts ? d : null;
      },
      30_000,
      100,
    );

  it('numbers attempts 1…n once each through two replays, the counter equals the list, and each keeps the URL it went to', async () => {
    const first = await fx.receiver(() => ({ status: 500 }));
    const second = await fx.receiver(() => ({ status: 502 }));
    const ep = await fx.endpoint(first.url, ['order.created']);
    await insertOutbox(db.get().pool, [{ type: 'order.created', payload: { n: 1 } }]);
    const d = await failedAfter(ep.id, 3);
    // The endpoint moves; the attempts already made keep the old URL.
    expect((await api('PATCH', `/api/endpoints/${ep.id}`, { url: second.url })).status).to.equal(200);
    expect((await api('POST', `/api/deliveries/${d.id}/replay`)).status).to.equal(202);
    await failedAfter(ep.id, 6);
    expect((await api('POST', `/api/deliveries/${d.id}/replay`)).status).to.equal(202);
    await failedAfter(ep.id, 9);

    const detail = (await api('GET', `/api/deliveries/${d.id}`)).body;
    const log = detail.attempt_log as {
      attempt: number;
      started_by: string;
      request: { url: string };
      status_code: number;
    }[];
    expect(log.map((a) => a.attempt)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(detail.attempts, 'counter = attempts listed').to.equal(log.length);
    expect(log.map((a) => a.started_by)).to.deep.equal([
      'first',
      'retry',
      'retry',
      'replay',
      'retry',
      'retry',
      'replay',
      'retry',
      'retry',
    ]);
    const saved = (u: string) => new URL(u).href; // the endpoint keeps its URL normalised (trailing /)
    expect(log.map((a) => a.request.url)).to.deep.equal([
      ...Array(3).fill(saved(first.url)),
      ...Array(6).fill(saved(second.url)),
    ]);
    expect(log.map((a) => a.status_code)).to.deep.equal([500, 500, 500, 502, 502, 502, 502, 502, 502]);
    expect(first.received).to.have.length(3);
    // Each attempt's request headers read back as the receiver got them (stored compactly, rebuilt on reading).
    const logged = detail.attempt_log as { request: { headers: Record<string, string> } }[];
    first.received.forEach((got, i) => {
      for (const [name, value] of Object.entries(logged[i]!.request.headers))
        expect(got.headers[name], `attempt ${i + 1} ${name}`).to.equal(value);
      expect(logged[i]!.request.headers['webhook-signature']).to.match(/^v1,/);
    });
    expect(
      new Set(logged.map((a) => a.request.headers['webhook-timestamp'])).size,
      'a timestamp per attempt',
    ).to.be.above(1);

    const c = new Client(fx.sidecar.url);
    expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
    const page = (await c.get(`/admin/deliveries/${d.id}`)).text;
    for (let n = 1; n <= 9; n++)
      expect(page.match(new RegExp(`<strong>Attempt ${n}</strong>`, 'g')), `attempt ${n} once`).to.have.length(1);
    expect(page.match(/\(replay\)/g)).to.have.length(2);
    expect(page).to.contain(`POST ${saved(first.url)}`);
  });

  it('refuses to replay a paused delivery while its endpoint is disabled, saying why, in the API and the page', async () => {
    const r = await fx.receiver();
    const ep = await fx.endpoint(r.url, ['order.paused'], { enabled: false });
    await insertOutbox(db.get().pool, [{ type: 'order.paused', payload: {} }]);
    const d = await waitFor('a paused delivery', async () =>
      (await deliveryOf(ep.id))?.status === 'paused' ? deliveryOf(ep.id) : null,
    );
    const res = await api('POST', `/api/deliveries/${d.id}/replay`);
    expect(res.status).to.equal(400);
    expect(res.body.error.message).to.equal(
      `delivery ${d.id} cannot be sent while endpoint ${ep.id} is disabled; enable the endpoint and its paused deliveries are sent`,
    );
    const c = new Client(fx.sidecar.url);
    expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
    const page = await c.post(`/admin/deliveries/${d.id}/replay`, {}, `/admin/deliveries/${d.id}`);
    expect(page.status).to.equal(400);
    expect(page.text).to.match(/role="alert"><p>delivery \d+ cannot be sent while endpoint \d+ is disabled/);
    expect((await deliveryOf(ep.id)).status).to.equal('paused');
  });

  it('says how many failed deliveries a bulk replay queued, or that none matched, or that the date is in the future', async () => {
    const r = await fx.receiver(() => ({ status: 500 }));
    const ep = await fx.endpoint(r.url, ['order.bulk']);
    await api('PATCH', '/api/settings', { retry_schedule_seconds: [], confirm: true });
    try {
      await insertOutbox(
        db.get().pool,
        Array.from({ length: 3 }, (_, i) => ({ type: 'order.bulk', payload: { i } })),
      );
      await waitFor(
        'three failed',
        async () => (await api('GET', `/api/deliveries?endpoint_id=${ep.id}&status=failed`)).body.data.length === 3,
      );
    } finally {
      await api('PATCH', '/api/settings', FAST_RETRIES);
    }
    const c = new Client(fx.sidecar.url);
    expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
    const at = (d: Date) => d.toISOString().slice(0, 16);
    const from = `/admin/endpoints/${ep.id}`;

    const future = await c.post(
      `/admin/endpoints/${ep.id}/replay-failed`,
      { since: at(new Date(Date.now() + 86400_000)) },
      from,
    );
    expect(future.status).to.equal(400);
    expect(future.text).to.match(/since is in the future/);
    expect(
      (
        await api('POST', `/api/endpoints/${ep.id}/replay-failed`, {
          since: new Date(Date.now() + 86400_000).toISOString(),
        })
      ).body.error.message,
    ).to.match(/^since is in the future/);

    // A second after they failed, to the second (datetime-local takes seconds too): none since then.
    await sleep(1100);
    const none = await c.post(
      `/admin/endpoints/${ep.id}/replay-failed`,
      { since: new Date().toISOString().slice(0, 19) },
      from,
    );
    expect(none.status).to.equal(303);
    expect((await c.get(none.location!)).text).to.contain(
      'No failed deliveries to this endpoint were created since then: nothing was queued.',
    );

    const three = await c.post(
      `/admin/endpoints/${ep.id}/replay-failed`,
      { since: at(new Date(Date.now() - 3600_000)) },
      from,
    );
    expect(three.location).to.equal(`/admin/endpoints/${ep.id}?notice=replayed-many&count=3`);
    expect((await c.get(three.location!)).text).to.contain(
      '3 failed deliveries queued for replay, with their event ids.',
    );
    // A forged count cannot put text on the page.
    expect((await c.get(`/admin/endpoints/${ep.id}?notice=replayed-many&count=%3Cb%3E`)).text).to.contain(
      'Several failed deliveries queued',
    );
  });
});
