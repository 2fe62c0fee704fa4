/**
 * Changes that would silently switch delivery off, or subscribe to nothing,
 * are refused with what they would do, and go through once confirmed: in the
 * API and on the pages. Rotation from the page asks first and shows the new
 * secret once.
 */
import { expect } from 'chai';
import { useTestDb, insertOutbox } from '../support/db.js';
import { ADMIN_PASSWORD, useSidecar } from '../support/sidecar.js';
import { Client } from '../support/browserless.js';
import { waitFor } from '../support/wait.js';

describe('confirmations and subscriptions', function () {
  this.timeout(30_000);
  const db = useTestDb('confirm');
  const fx = useSidecar(db);
  const { api } = fx;
  let c: Client;

  before(async () => {
    await api('PATCH', '/api/settings', { retry_schedule_seconds: [60, 300] });
    c = new Client(fx.sidecar.url);
    expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
  });
  afterEach(async () => {
    await api('PATCH', '/api/settings', { retry_schedule_seconds: [60, 300], https_only: false });
    await fx.reset();
  });

  it('an empty retry schedule needs confirming, in the API and on the settings page', async () => {
    const res = await api('PATCH', '/api/settings', { retry_schedule_seconds: [] });
    expect(res.status).to.equal(400);
    expect(res.body.error).to.include({ code: 'confirmation_required', field: 'retry_schedule_seconds' });
    expect(res.body.error.message).to.match(/^an empty retry schedule means a failed delivery is never retried/);
    expect((await api('GET', '/api/settings')).body.retry_schedule_seconds).to.deep.equal([60, 300]);

    const page = await c.post('/admin/settings', { retry_schedule_seconds: '' }, '/admin/settings');
    expect(page.status).to.equal(400);
    expect(page.text).to.contain('An empty retry schedule means a failed delivery is never retried');
    expect(page.text).to.contain('name="confirm"');
    expect((await api('GET', '/api/settings')).body.retry_schedule_seconds).to.deep.equal([60, 300]);
    const confirmed = await c.post('/admin/settings', { retry_schedule_seconds: '', confirm: 'on' }, '/admin/settings');
    expect(confirmed.status).to.equal(303);
    expect((await api('GET', '/api/settings')).body.retry_schedule_seconds).to.deep.equal([]);
  });

  it('HTTPS only says which http:// endpoints it would block, and once on, the list marks them', async () => {
    const r = await fx.receiver();
    const ep = await fx.endpoint(r.url, ['order.created']);
    const page = await c.post('/admin/settings', { https_only: 'true' }, '/admin/settings');
    expect(page.status, page.text.slice(page.text.indexOf('<main'), page.text.indexOf('<main') + 1500)).to.equal(400);
    const blockedAt = page.text.indexOf('HTTPS only would block');
    expect(page.text.slice(blockedAt, blockedAt + 200)).to.contain(
      `HTTPS only would block 1 endpoint that uses http:// (#${ep.id} ${new URL(r.url).href})`,
    );
    const confirmed = await c.post('/admin/settings', { https_only: 'true', confirm: 'on' }, '/admin/settings');
    expect(confirmed.status).to.equal(303);
    const list = await c.get('/admin/endpoints');
    expect(list.text).to.contain('HTTPS only is on and this URL is http://: its deliveries fail as blocked');
    expect((await c.get(`/admin/endpoints/${ep.id}`)).text).to.contain(
      'its deliveries fail as blocked until you change the URL to https://',
    );
  });

  it('refuses a subscription that matches nothing known unless confirmed, and keeps "enrollment created" one (refused) entry', async () => {
    const r = await fx.receiver();
    const typo = await api('POST', '/api/endpoints', {
      url: r.url,
      events: ['order.creatd', 'ordr.*', 'order.created'],
    });
    expect(typo.status).to.equal(400);
    expect(typo.body.error).to.include({ code: 'confirmation_required', field: 'events' });
    expect(typo.body.error.message).to.equal(
      '"order.creatd", "ordr.*" are neither in the event catalog nor seen in the outbox, so they match no event yet: check the spelling, or confirm to subscribe to a type the LMS will send later',
    );
    expect(
      (await api('POST', '/api/endpoints', { url: r.url, events: ['order.creatd'], confirm: true })).status,
    ).to.equal(201);

    // A type the outbox has carried is known.
    const seen = await fx.endpoint(r.url, ['badge.*']);
    await insertOutbox(db.get().pool, [{ type: 'badge.awarded', payload: {} }]);
    await waitFor('badge.awarded accepted', () => r.received.length === 1);
    expect((await api('POST', '/api/endpoints', { url: r.url, events: ['badge.awarded', 'badge.*'] })).status).to.equal(
      201,
    );
    expect(
      (await api('PATCH', `/api/endpoints/${seen.id}`, { events: ['badge.*', 'forum.posted'] })).body.error.message,
    ).to.match(/^"forum\.posted" is neither/);

    const spaced = await c.post(
      '/admin/endpoints',
      { url: r.url, events_other: 'enrollment created' },
      '/admin/endpoints/new',
    );
    expect(spaced.status).to.equal(400);
    expect(spaced.text).to.match(
      /&#34;enrollment created&#34; is not an event type\. Use names such as enrollment\.created/,
    );
    const page = await c.post(
      '/admin/endpoints',
      { url: r.url, events_other: 'forum.posted, forum.*' },
      '/admin/endpoints/new',
    );
    expect(page.status).to.equal(400);
    expect(page.text).to.contain(
      '&#34;forum.posted&#34;, &#34;forum.*&#34; are neither in the event catalog nor seen in the outbox',
    );
    expect(page.text).to.contain('Subscribe anyway');
    const created = await c.post(
      '/admin/endpoints',
      { url: r.url, events_other: 'forum.posted, forum.*', confirm: 'on' },
      '/admin/endpoints/new',
    );
    expect(created.status).to.equal(303);
  });

  it('shows wildcards as what they are: "all events" and "all order events", with the boxes they cover ticked and disabled', async () => {
    const r = await fx.receiver();
    const all = await fx.endpoint(r.url, ['*']);
    const orders = await fx.endpoint(r.url, ['order.*', 'payment.failed']);
    const allPage = (await c.get(`/admin/endpoints/${all.id}`)).text;
    expect(allPage).to.match(
      /<input type="checkbox" id="events" name="events" value="\*" checked> <strong>All events<\/strong>/,
    );
    expect(allPage).to.match(/value="order\.created" checked disabled/);
    expect(allPage).to.match(/value="order\.\*" checked disabled> All order events/);
    expect(allPage).to.not.match(/id="events_other" name="events_other" value="[^"]/);
    const orderPage = (await c.get(`/admin/endpoints/${orders.id}`)).text;
    expect(orderPage).to.match(/value="order\.\*" checked> All order events/);
    for (const t of ['order.created', 'order.completed', 'order.refunded'])
      expect(orderPage).to.match(new RegExp(`value="${t.replace('.', '\\.')}" checked disabled`));
    expect(orderPage).to.match(/value="payment\.failed" checked>/);
    expect(orderPage).to.match(/value="payment\.completed">/);
    const list = (await c.get('/admin/endpoints')).text;
    expect(list).to.contain('>all events</code>');
    expect(list).to.contain('>all order events</code>');
  });

  it('rotates from the page only when confirmed, with the chosen grace period, showing the new secret once and when the grace ends', async () => {
    const r = await fx.receiver();
    const ep = await fx.endpoint(r.url, ['order.created']);
    const from = `/admin/endpoints/${ep.id}`;
    const unconfirmed = await c.post(`${from}/rotate`, { grace_hours: '6' }, from);
    expect(unconfirmed.status).to.equal(400);
    expect(unconfirmed.text).to.contain('Tick the box to rotate');
    expect((await api('GET', `/api/endpoints/${ep.id}`)).body.previous_secret_expires_at).to.equal(null);

    const rotated = await c.post(`${from}/rotate`, { grace_hours: '6', confirm: 'on' }, from);
    expect(rotated.status).to.equal(200);
    const secret = /<code class="secret" id="new-secret">(whsec_[^<]+)<\/code>/.exec(rotated.text)?.[1];
    expect(secret)
      .to.match(/^whsec_/)
      .and.not.equal(ep.secret);
    const after = (await api('GET', `/api/endpoints/${ep.id}`)).body;
    expect(Date.parse(after.previous_secret_expires_at) - Date.now()).to.be.within(5.9 * 3600_000, 6 * 3600_000);
    expect(rotated.text).to.match(/Rotation in progress until .*X-Webhook-Signature-Next/);
    // Shown once: the page afterwards masks it again.
    const later = (await c.get(from)).text;
    expect(later).to.not.contain('id="new-secret"');
    expect(later).to.contain('Rotation in progress until');
  });
});
