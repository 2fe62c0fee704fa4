/**
 * Endpoint options against a real receiver: filters, extra headers, auth,
 * per-endpoint timeout and retries, Ed25519 signing, backfill; the rate
 * limit over two real processes.
 */
import { expect } from 'chai';
import { createPublicKey, verify } from 'node:crypto';
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
  testSecretBox,
  useSidecar,
  type Child,
} from '../support/sidecar.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { Client } from '../support/browserless.js';
import { sleep, waitFor } from '../support/wait.js';

describe('endpoint options', function () {
  this.timeout(60_000);
  const db = useTestDb('options');
  const fx = useSidecar(db);
  const { api } = fx;

  before(async () => {
    expect((await api('PATCH', '/api/settings', FAST_RETRIES)).status).to.equal(200);
  });
  afterEach(() => fx.reset());

  const post = (body: Record<string, unknown>) =>
    api('POST', '/api/endpoints', {
      url: 'https://example.com/hook',
      events: ['order.created'],
      confirm: true,
      ...body,
    });

  it('max_deliveries_per_second paces a backlog for the process: 60 events at 20/s go out over about 3 s, none lost', async () => {
    const receiver = await fx.receiver();
    expect((await api('PATCH', '/api/settings', { max_deliveries_per_second: 20 })).status).to.equal(200);
    try {
      await fx.endpoint(`${receiver.url}/paced`, ['course.updated']);
      await insertOutbox(
        db.get().pool,
        Array.from({ length: 60 }, (_, n) => ({ type: 'course.updated', payload: { n } })),
      );
      await waitFor('all 60 sent', () => receiver.received.length === 60, 20_000, 20);
      const at = receiver.received.map((r) => r.at).sort((a, b) => a - b);
      const busiest = Math.max(...at.map((t0) => at.filter((t) => t >= t0 && t < t0 + 1000).length));
      // A quarter second's batch (5) may start at once, then 20/s.
      expect(busiest, 'busiest second').to.be.at.most(25);
      expect(at[59]! - at[0]!, '60 at 20/s after a first batch of 5').to.be.at.least(2400);
      expect(new Set(receiver.received.map((r) => (r.json.data as { n: number }).n)).size).to.equal(60);
    } finally {
      await api('PATCH', '/api/settings', { max_deliveries_per_second: 0 });
    }
  });

  it('refuses a negative pace, naming the setting', async () => {
    const r = await api('PATCH', '/api/settings', { max_deliveries_per_second: -1 });
    expect(r.status).to.equal(400);
    expect(JSON.stringify(r.body)).to.contain('max_deliveries_per_second');
  });

  it('filters at fan-out: a filtered-out event makes no delivery at all', async () => {
    const receiver = await fx.receiver();
    const ep = await fx.endpoint(`${receiver.url}/hook`, ['enrollment.*'], {
      filter: {
        all: [
          { path: 'data.course_id', op: 'in', value: ['c1', 'c2'] },
          { path: 'data.grade', op: 'gte', value: 50 },
        ],
      },
    });
    const back = (await api('GET', `/api/endpoints/${ep.id}`)).body;
    expect(back.filter).to.deep.equal({
      all: [
        { path: 'data.course_id', op: 'in', value: ['c1', 'c2'] },
        { path: 'data.grade', op: 'gte', value: 50 },
      ],
    });
    await insertOutbox(db.get().pool, [
      { type: 'enrollment.completed', payload: { n: 1, course_id: 'c1', grade: 90 } },
      { type: 'enrollment.completed', payload: { n: 2, course_id: 'c3', grade: 90 } },
      { type: 'enrollment.completed', payload: { n: 3, course_id: 'c2', grade: 10 } },
      { type: 'enrollment.completed', payload: { n: 4, course_id: 'c2', grade: '90' } },
      { type: 'enrollment.completed', payload: { n: 5, course_id: 'c2', grade: 50 } },
    ]);
    await waitFor('fanned out', async () => {
      const [[r]] = await db
        .get()
        .pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM wp_webhook_outbox WHERE fanned_out_at IS NULL');
      return Number(r!.n) === 0;
    });
    await waitFor('matching events delivered', () => receiver.received.length === 2);
    await sleep(300);
    expect(receiver.received.map((r) => (r.json.data as { n: number }).n).sort()).to.deep.equal([1, 5]);
    const list = (await api('GET', `/api/deliveries?endpoint_id=${ep.id}`)).body.data;
    expect(list, 'no delivery for a filtered-out event').to.have.length(2);
  });

  it('refuses a bad filter with a 400 naming what is wrong', async () => {
    const cases: [unknown, RegExp][] = [
      [
        { all: [{ path: 'data.x', op: 'like', value: 1 }] },
        /filter\.all\[0\]\.op must be one of eq, neq, in, nin, exists, gt, gte, lt, lte/,
      ],
      [{ all: [{ path: 'data..x', op: 'eq', value: 1 }] }, /filter\.all\[0\]\.path must be a dot-separated path/],
      [{ any: [{ path: 'data.x', op: 'in', value: 'c1' }] }, /in takes a list/],
      [{ all: [], any: [] }, /takes either "all" or "any"/],
      [{}, /must have "all" or "any"/],
    ];
    for (const [filter, message] of cases) {
      const res = await post({ filter });
      expect(res.status, JSON.stringify(filter)).to.equal(400);
      expect(res.body.error.message).to.match(message);
    }
  });

  it('refuses every header the sidecar sets or HTTP owns, naming it; sends the others', async () => {
    for (const name of [
      'Host',
      'Content-Type',
      'content-length',
      'Connection',
      'Transfer-Encoding',
      'User-Agent',
      'Authorization',
      'webhook-id',
      'Webhook-Signature',
      'X-Webhook-Signature',
      'x-webhook-anything',
      'TE',
      'Upgrade',
      'Proxy-Authorization',
    ]) {
      const res = await post({ headers: { [name]: 'x' } });
      expect(res.status, name).to.equal(400);
      expect(res.body.error.message, name).to.contain(`${name} is set by the sidecar or owned by HTTP`);
    }
    expect((await post({ headers: { 'Bad Name': 'x' } })).body.error.message).to.contain(
      '"Bad Name" is not a valid header name',
    );
    expect((await post({ headers: { 'X-Ok': 'a\r\nInjected: 1' } })).body.error.message).to.contain(
      'the value of X-Ok may contain only printable ASCII',
    );

    const receiver = await fx.receiver();
    await fx.endpoint(`${receiver.url}/hook`, ['order.created'], { headers: { 'X-Tenant': 't1', 'X-Empty': '' } });
    await insertOutbox(db.get().pool, [{ type: 'order.created', payload: {} }]);
    await waitFor('delivered', () => receiver.received.length === 1);
    expect(receiver.received[0]!.headers).to.include({ 'x-tenant': 't1', 'x-empty': '' });
  });

  it('sends auth as Authorization and masks it when read back, in the attempt log and on the page', async () => {
    const receiver = await fx.receiver();
    const basic = await fx.endpoint(`${receiver.url}/basic`, ['order.created'], {
      auth: { type: 'basic', username: 'crm', password: 'p4ss-w0rd-secret' },
    });
    const bearer = await fx.endpoint(`${receiver.url}/bearer`, ['order.created'], {
      auth: { type: 'bearer', token: 'tok_0123456789abcdef' },
    });
    expect((await api('GET', `/api/endpoints/${basic.id}`)).body.auth).to.deep.equal({
      type: 'basic',
      username: 'crm',
      password: '********',
    });
    expect((await api('GET', `/api/endpoints/${bearer.id}`)).body.auth).to.deep.equal({
      type: 'bearer',
      token: '********',
    });
    await insertOutbox(db.get().pool, [{ type: 'order.created', payload: {} }]);
    await waitFor('both delivered', () => receiver.received.length === 2);
    const by = (p: string) => receiver.received.find((r) => r.path === p)!.headers.authorization;
    expect(by('/basic')).to.equal(`Basic ${Buffer.from('crm:p4ss-w0rd-secret').toString('base64')}`);
    expect(by('/bearer')).to.equal('Bearer tok_0123456789abcdef');

    const [d] = (await api('GET', `/api/deliveries?endpoint_id=${basic.id}`)).body.data;
    await waitFor(
      'attempt recorded',
      async () => (await api('GET', `/api/deliveries/${d.id}`)).body.attempt_log.length === 1,
    );
    const detail = JSON.stringify((await api('GET', `/api/deliveries/${d.id}`)).body);
    expect(detail)
      .to.contain('Basic ********')
      .and.not.contain('p4ss-w0rd-secret')
      .and.not.contain(Buffer.from('crm:p4ss-w0rd-secret').toString('base64'));
    const c = new Client(fx.sidecar.url);
    expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
    for (const page of [`/admin/endpoints/${basic.id}`, `/admin/deliveries/${d.id}`, `/admin/endpoints/${bearer.id}`]) {
      const text = (await c.get(page)).text;
      expect(text, page).to.not.contain('p4ss-w0rd-secret').and.not.contain('tok_0123456789abcdef');
    }
  });

  it("applies an endpoint's own timeout and retry schedule over the global ones", async () => {
    expect((await api('PATCH', '/api/settings', { timeout_seconds: 10 })).status).to.equal(200);
    try {
      const receiver = await fx.receiver(() => ({ status: 200, delayMs: 3000 }));
      const ep = await fx.endpoint(`${receiver.url}/slow`, ['order.created'], {
        timeout_seconds: 1,
        retry_schedule_seconds: [1],
      });
      const echoed = (await api('GET', `/api/endpoints/${ep.id}`)).body;
      expect(echoed).to.include({ timeout_seconds: 1 });
      expect(echoed.retry_schedule_seconds).to.deep.equal([1]);
      await insertOutbox(db.get().pool, [{ type: 'order.created', payload: {} }]);
      const d = await waitFor(
        'failed after its own schedule',
        async () => {
          const [x] = (await api('GET', `/api/deliveries?endpoint_id=${ep.id}`)).body.data;
          return x?.status === 'failed' ? x : null;
        },
        20_000,
        100,
      );
      const log = (await api('GET', `/api/deliveries/${d.id}`)).body.attempt_log as {
        error_class: string;
        duration_ms: number;
      }[];
      expect(log.map((a) => a.error_class)).to.deep.equal(['timeout', 'timeout']); // one retry, not the global two
      for (const a of log) expect(a.duration_ms).to.be.within(900, 2500);
      // null goes back to the global setting.
      expect((await api('PATCH', `/api/endpoints/${ep.id}`, { timeout_seconds: null })).body.timeout_seconds).to.equal(
        null,
      );
      const none = await api('POST', '/api/endpoints', {
        url: 'https://example.com/hook',
        events: ['order.created'],
        retry_schedule_seconds: [],
      });
      expect(none.body.error.code).to.equal('confirmation_required');
    } finally {
      await api('PATCH', '/api/settings', FAST_RETRIES);
    }
  });

  it('signs with Ed25519 when asked: webhook-signature verifies with the public key alone', async () => {
    const receiver = await fx.receiver();
    const ep = await fx.endpoint(`${receiver.url}/ed`, ['order.created'], { signing: 'ed25519' });
    const shown = (await api('GET', `/api/endpoints/${ep.id}`)).body;
    expect(shown.signing).to.equal('ed25519');
    expect(shown.public_key).to.match(/^whpk_[A-Za-z0-9+/]{43}=$/);
    expect(JSON.stringify(shown)).to.not.match(/signing_key|PRIVATE/i);
    await insertOutbox(db.get().pool, [{ type: 'order.created', payload: { n: 1 } }]);
    await waitFor('delivered', () => receiver.received.length === 1);
    const r = receiver.received[0]!;
    const [scheme, sig] = String(r.headers['webhook-signature']).split(',');
    expect(scheme).to.equal('v1a');
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(shown.public_key.slice(5), 'base64').toString('base64url') },
      format: 'jwk',
    });
    const signed = Buffer.concat([
      Buffer.from(`${String(r.headers['webhook-id'])}.${String(r.headers['webhook-timestamp'])}.`),
      r.raw,
    ]);
    expect(verify(null, signed, key, Buffer.from(sig!, 'base64'))).to.equal(true);
    expect(verify(null, Buffer.concat([signed, Buffer.from(' ')]), key, Buffer.from(sig!, 'base64'))).to.equal(false);
    // X-Webhook-Signature stays the hex HMAC.
    expect(r.headers['x-webhook-signature']).to.match(/^[0-9a-f]{64}$/);
    // Back to HMAC drops the key pair.
    const back = (await api('PATCH', `/api/endpoints/${ep.id}`, { signing: 'hmac' })).body;
    expect(back).to.include({ signing: 'hmac', public_key: null });
  });

  it('backfills an endpoint with the events it never got, with their ids, once', async () => {
    const first = await fx.receiver();
    await fx.endpoint(`${first.url}/a`, ['shop.*']);
    await insertOutbox(db.get().pool, [
      { type: 'shop.sold', payload: { n: 1 } },
      { type: 'shop.refunded', payload: { n: 2 } },
      { type: 'shop.sold', payload: { n: 3 } },
      { type: 'shop.viewed', payload: { n: 4 } },
    ]);
    await waitFor('first endpoint has them', () => first.received.length === 4);
    const since = new Date(Date.now() - 60_000).toISOString();

    const late = await fx.receiver();
    // Its subscriptions, its filter and the backfill's own events narrow it to n = 1 and 2.
    const ep = await fx.endpoint(`${late.url}/b`, ['shop.*'], {
      filter: { all: [{ path: 'data.n', op: 'neq', value: 3 }] },
    });
    const res = await api('POST', `/api/endpoints/${ep.id}/backfill`, {
      since,
      events: ['shop.sold', 'shop.refunded'],
    });
    expect(res.status).to.equal(202);
    expect(res.body).to.deep.equal({ queued: 2 });
    await waitFor('backfilled', () => late.received.length === 2);
    const ids = (rs: Receiver) => rs.received.map((r) => r.json.id).sort();
    expect(ids(late)).to.deep.equal(
      first.received
        .filter((r) => [1, 2].includes((r.json.data as { n: number }).n))
        .map((r) => r.json.id)
        .sort(),
    );

    const again = await api('POST', `/api/endpoints/${ep.id}/backfill`, {
      since,
      events: ['shop.sold', 'shop.refunded'],
    });
    expect(again.body).to.deep.equal({ queued: 0 });
    const old = await api('POST', `/api/endpoints/${ep.id}/backfill`, { since: '2020-01-01T00:00:00Z', until: since });
    expect(old.status).to.equal(202);
    expect(old.body.queued).to.equal(0);
    expect(old.body.note).to.match(/retention_days is 30/);
    expect((await api('POST', `/api/endpoints/${ep.id}/backfill`, { since: 'yesterday' })).body.error.field).to.equal(
      'since',
    );
    await sleep(300);
    expect(late.received).to.have.length(2);
  });
});

describe('endpoint options on the admin page', function () {
  this.timeout(30_000);
  const db = useTestDb('options_page');
  const fx = useSidecar(db);

  it('sets every option through the form, keeps a saved password when left empty, names a bad field, and backfills', async () => {
    const c = new Client(fx.sidecar.url);
    expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
    const form = {
      url: 'https://crm.example.com/hooks',
      description: 'CRM',
      events: 'order.created',
      filter: '{"any": [{"path": "data.total", "op": "gt", "value": 1000}, {"path": "data.vip", "op": "exists"}]}',
      headers: 'X-Tenant: t1\nX-Region: eu',
      auth_type: 'basic',
      auth_username: 'crm',
      auth_secret: 'form-secret-123',
      rate_limit_per_second: '2.5',
      timeout_seconds: '7',
      retry_schedule_seconds: '60, 300',
      signing: 'ed25519',
      enabled: 'on',
    };
    const created = await c.post('/admin/endpoints', form, '/admin/endpoints/new');
    expect(created.status, created.text.slice(0, 2000)).to.equal(303);
    const id = Number(/\/admin\/endpoints\/(\d+)/.exec(created.location!)![1]);
    const saved = (await fx.api('GET', `/api/endpoints/${id}`)).body;
    expect(saved).to.deep.include({
      filter: {
        any: [
          { path: 'data.total', op: 'gt', value: 1000 },
          { path: 'data.vip', op: 'exists' },
        ],
      },
      headers: { 'X-Tenant': 't1', 'X-Region': 'eu' },
      auth: { type: 'basic', username: 'crm', password: '********' },
      rate_limit_per_second: 2.5,
      timeout_seconds: 7,
      retry_schedule_seconds: [60, 300],
      signing: 'ed25519',
    });
    const page = (await c.get(`/admin/endpoints/${id}`)).text;
    expect(page).to.contain('Only events where data.total is greater than 1000 or data.vip is present.');
    expect(page).to.contain(saved.public_key);
    expect(page).to.not.contain('form-secret-123');

    // Saved again with the password left empty: kept.
    expect(
      (
        await c.post(
          `/admin/endpoints/${id}`,
          { ...form, auth_secret: '', description: 'CRM 2' },
          `/admin/endpoints/${id}`,
        )
      ).status,
    ).to.equal(303);
    const [row] = (
      await db
        .get()
        .pool.query<RowDataPacket[]>('SELECT auth, description FROM wp_webhook_endpoints WHERE id = ?', [id])
    )[0];
    // Stored sealed (README "Secrets at rest"): opened with the sidecar's key.
    expect(String(row!.auth)).to.match(/^enc:v1:/);
    expect(JSON.parse(testSecretBox().open(String(row!.auth)))).to.deep.equal({
      type: 'basic',
      username: 'crm',
      password: 'form-secret-123',
    });
    expect(row!.description).to.equal('CRM 2');

    const bad = await c.post(
      `/admin/endpoints/${id}`,
      { ...form, filter: '{"all": [{"path": "data.x", "op": "like", "value": 1}]}' },
      `/admin/endpoints/${id}`,
    );
    expect(bad.status).to.equal(400);
    expect(bad.text).to.match(
      /id="filter-error">Filter, condition 1 of &#34;all&#34;: &#34;op&#34; must be one of eq, neq, /,
    );
    const badJson = await c.post(`/admin/endpoints/${id}`, { ...form, filter: '{nope' }, `/admin/endpoints/${id}`);
    expect(badJson.text).to.contain('Filter is not valid JSON');
    const badHeader = await c.post(
      `/admin/endpoints/${id}`,
      { ...form, headers: 'Host: evil' },
      `/admin/endpoints/${id}`,
    );
    expect(badHeader.text).to.match(/id="headers-error">Extra headers: Host is set by the sidecar/);

    const backfill = await c.post(
      `/admin/endpoints/${id}/backfill`,
      { since: '2020-01-01T00:00' },
      `/admin/endpoints/${id}`,
    );
    expect(backfill.status).to.equal(202);
    expect(backfill.text).to.contain('Backfill: 0 events queued').and.contain('retention_days is 30');
  });
});

describe('rate limit over two processes', function () {
  this.timeout(90_000);
  const db = useTestDb('ratelimit');
  const children: Child[] = [];
  let receiver: Receiver | null = null;

  afterEach(async () => {
    await stopChildren(children);
    await receiver?.close();
  });

  it('starts at most rate_limit_per_second deliveries a second, summed over both; another endpoint is not slowed', async () => {
    const RATE = 5;
    const N = 30;
    receiver = await startReceiver();
    const admin = await startInProcess(db.get().url, {}, { loop: false });
    const api = apiClient(admin.url);
    // One request in flight per process and endpoint: neither process can book every start, so both send.
    expect((await api('PATCH', '/api/settings', { max_in_flight_per_endpoint: 1 })).status).to.equal(200);
    const limited = await api('POST', '/api/endpoints', {
      url: `${receiver.url}/limited`,
      events: ['order.created'],
      rate_limit_per_second: RATE,
    });
    expect(limited.status).to.equal(201);
    expect(limited.body.rate_limit_per_second).to.equal(RATE);
    expect(
      (await api('POST', '/api/endpoints', { url: `${receiver.url}/free`, events: ['order.created'] })).status,
    ).to.equal(201);
    await admin.stop();
    for (let i = 0; i < 2; i++) children.push(spawnSidecar(testEnv(db.get().url, { LOG_LEVEL: 'info' })));
    await waitFor('both started', () => children.every((c) => c.output().includes('sidecar started')), 20_000);
    await insertOutbox(
      db.get().pool,
      Array.from({ length: N }, (_, n) => ({ type: 'order.created', payload: { n } })),
    );

    await waitFor(
      'the free endpoint has all',
      () => receiver!.received.filter((r) => r.path === '/free').length === N,
      10_000,
    );
    const freeDoneAt = Date.now();
    await waitFor(
      'the limited endpoint has all',
      () => receiver!.received.filter((r) => r.path === '/limited').length === N,
      30_000,
      50,
    );
    const at = receiver.received.filter((r) => r.path === '/limited').map((r) => r.at);
    const span = (at[N - 1]! - at[0]!) / 1000;
    const perSecond = (N - 1) / span;
    let busiest = 0;
    for (const t0 of at) busiest = Math.max(busiest, at.filter((t) => t >= t0 && t < t0 + 1000).length);
    const [[w]] = await db
      .get()
      .pool.query<RowDataPacket[]>(
        "SELECT COUNT(DISTINCT worker) AS n FROM wp_webhook_attempts a JOIN wp_webhook_deliveries d ON d.id = a.delivery_id JOIN wp_webhook_endpoints e ON e.id = d.endpoint_id WHERE e.url LIKE '%/limited'",
      );
    process.stdout.write(
      `      (rate limit ${RATE}/s over two processes: ${perSecond.toFixed(2)}/s seen by the receiver, busiest second ${busiest}, ${w!.n} processes sent)\n`,
    );
    expect(Number(w!.n), 'both processes sent to the limited endpoint').to.equal(2);
    // Starts are booked 1/rate apart on the database clock; arrival jitter may put one more in a second.
    expect(busiest).to.be.at.most(RATE + 1);
    expect(perSecond).to.be.within(RATE * 0.8, RATE * 1.1);
    expect(freeDoneAt - at[0]!, 'the other endpoint was not held back').to.be.below((span * 1000) / 2);
  });

  it('holds a limit from the first claim: an endpoint created, or lowered, just before its events arrive', async () => {
    receiver = await startReceiver();
    const admin = await startInProcess(db.get().url, {}, { loop: false });
    const api = apiClient(admin.url);
    try {
      for (let i = 0; i < 2; i++) children.push(spawnSidecar(testEnv(db.get().url, { LOG_LEVEL: 'info' })));
      await waitFor('both started', () => children.every((c) => c.output().includes('sidecar started')), 20_000);
      /** The busiest one-second window of arrivals at `path`. */
      const busiest = (path: string) => {
        const at = receiver!.received.filter((r) => r.path === path).map((r) => r.at);
        return Math.max(...at.map((t0) => at.filter((t) => t >= t0 && t < t0 + 1000).length));
      };

      // Created with 5/s while both processes run, its events inserted within 100 ms.
      const created = await api('POST', '/api/endpoints', {
        url: `${receiver.url}/created`,
        events: ['order.created'],
        rate_limit_per_second: 5,
      });
      expect(created.status).to.equal(201);
      await insertOutbox(
        db.get().pool,
        Array.from({ length: 12 }, (_, n) => ({ type: 'order.created', payload: { n } })),
      );
      await waitFor(
        'all 12 sent',
        () => receiver!.received.filter((r) => r.path === '/created').length === 12,
        20_000,
        20,
      );
      const createdBusiest = busiest('/created');

      // Lowered to 1/s, then events inserted at once.
      expect((await api('PATCH', `/api/endpoints/${created.body.id}`, { rate_limit_per_second: 1 })).status).to.equal(
        200,
      );
      const before = receiver.received.length;
      await insertOutbox(
        db.get().pool,
        Array.from({ length: 4 }, (_, n) => ({ type: 'order.created', payload: { n } })),
      );
      await waitFor('all 4 sent', () => receiver!.received.length === before + 4, 20_000, 20);
      const after = receiver.received.slice(before).map((r) => r.at);
      const loweredBusiest = Math.max(...after.map((t0) => after.filter((t) => t >= t0 && t < t0 + 1000).length));
      process.stdout.write(
        `      (created at 5/s: busiest second ${createdBusiest}; lowered to 1/s: busiest second ${loweredBusiest}, 4 sent over ${((after[3]! - after[0]!) / 1000).toFixed(2)} s)\n`,
      );
      // Starts are booked 1/rate apart on the database clock; arrival jitter may put one more in a second.
      expect(createdBusiest, 'created at 5/s').to.be.at.most(6);
      expect(loweredBusiest, 'lowered to 1/s').to.be.at.most(2);
      expect(after[3]! - after[0]!, 'four starts 1 s apart span about 3 s').to.be.at.least(2700);
    } finally {
      await admin.stop();
    }
  });
});
