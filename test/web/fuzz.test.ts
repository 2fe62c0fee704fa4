/**
 * Generated input: thousands of random bodies, query strings and form posts
 * thrown at the API and the admin pages, and outbox rows of every shape.
 * Nothing may answer 500 or stop the loop. The seed is printed so a failure
 * can be replayed with FUZZ_SEED=….
 */
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2/promise';
import { insertOutbox, useTestDb } from '../support/db.js';
import { ADMIN_PASSWORD, API_TOKEN, startInProcess, useSidecar } from '../support/sidecar.js';
import type { Receiver } from '../support/receiver.js';
import { Client } from '../support/browserless.js';
import { waitFor } from '../support/wait.js';

/** mulberry32: small, seedable, good enough to pick shapes. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIELDS = [
  'url',
  'events',
  'description',
  'enabled',
  'secret',
  'since',
  'grace_hours',
  'retry_schedule_seconds',
  'timeout_seconds',
  'https_only',
  'max_payload_bytes',
  'retention_days',
  '__proto__',
  'constructor',
  'x',
];
const STRINGS = [
  '',
  ' ',
  'http://127.0.0.1:1/',
  'https://example.com/h',
  'javascript:alert(1)',
  'enrollment.*',
  '*',
  '<script>',
  "' OR 1=1 --",
  '\u0000',
  '😀'.repeat(50),
  'é',
  '9'.repeat(400),
  'a'.repeat(5000),
  '2025-03-20T10:30:00Z',
  'true',
  '-1',
  'NaN',
  '1e309',
];

function generator(rand: () => number) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const value = (depth: number): unknown => {
    const r = rand();
    if (depth > 4 || r < 0.25) return pick(STRINGS);
    if (r < 0.4) return pick([0, -1, 1.5, 2 ** 53, -(2 ** 63), 1e308, 65536, 120]);
    if (r < 0.5) return pick([true, false, null]);
    if (r < 0.75) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
    return object(depth + 1);
  };
  const object = (depth: number): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    // defineProperty, so a key named __proto__ is an own field (as JSON.parse makes it), not a prototype.
    for (let i = Math.floor(rand() * 5); i > 0; i--)
      Object.defineProperty(o, pick(FIELDS), {
        value: value(depth),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    return o;
  };
  const deep = (n: number): unknown => JSON.parse('{"a":'.repeat(n) + '1' + '}'.repeat(n));
  const body = (): unknown => {
    const r = rand();
    if (r < 0.05) return '{"url": ';
    if (r < 0.08)
      return Buffer.from([0x7b, 0x22, 0x75, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0xff, 0x22, 0x7d]).toString('latin1');
    if (r < 0.1) return deep(3000);
    if (r < 0.15) return value(0);
    return object(0);
  };
  const text = (v: unknown): string => (v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v));
  return { pick, value, object, body, text };
}

/**
 * 200 or 400; and 431, which Node's HTTP server answers itself, when the
 * generated query string alone is past its 16 KiB header limit.
 */
const okFor = (q: URLSearchParams) => (q.toString().length > 16 * 1024 - 200 ? [200, 400, 431] : [200, 400]);

/** Settings the fuzzing may have changed, put back sane enough to deliver. */
const SANE_SETTINGS = {
  retry_schedule_seconds: [60],
  timeout_seconds: 5,
  max_payload_bytes: 262144,
  https_only: false,
  max_in_flight_per_endpoint: 32,
};

describe('generated input', function () {
  this.timeout(120_000);
  const db = useTestDb('fuzz');
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
  const fx = useSidecar(db);
  const { api } = fx;
  let receiver: Receiver;

  before(async () => {
    receiver = await fx.receiver();
    console.log(`      FUZZ_SEED=${seed}`);
  });

  it('answers every random API body and query string with a 2xx or a 4xx naming the problem, never a 500', async () => {
    const rand = prng(seed);
    const g = generator(rand);
    const e = await api('POST', '/api/endpoints', { url: receiver.url, events: ['fuzz.*'], confirm: true });
    const routes: [string, string][] = [
      ['POST', '/api/endpoints'],
      ['PATCH', `/api/endpoints/${e.body.id}`],
      ['POST', `/api/endpoints/${e.body.id}/rotate-secret`],
      ['POST', `/api/endpoints/${e.body.id}/replay-failed`],
      ['PATCH', '/api/settings'],
      ['POST', '/api/deliveries/1/replay'],
    ];
    const statuses = new Map<number, number>();
    for (let i = 0; i < 1200; i++) {
      const [method, path] = g.pick(routes);
      const body = g.body();
      const raw = typeof body === 'string' ? body : JSON.stringify(body);
      const res = await fetch(fx.sidecar.url + path, {
        method,
        headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
        body: raw,
      });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const text = await res.text();
      expect(res.status, `${method} ${path} ${raw.slice(0, 300)} → ${text.slice(0, 300)}`).to.be.below(500);
      if (res.status >= 400)
        expect(JSON.parse(text).error.message, raw.slice(0, 200)).to.be.a('string').and.not.equal('');
    }
    for (let i = 0; i < 300; i++) {
      const q = new URLSearchParams();
      for (let k = Math.floor(rand() * 4); k > 0; k--)
        q.append(
          g.pick(['endpoint_id', 'status', 'event_type', 'event_id', 'since', 'until', 'before', 'limit', 'x']),
          g.text(g.value(3)),
        );
      const res = await api('GET', `/api/deliveries?${q}`);
      expect(res.status, q.toString().slice(0, 300)).to.be.oneOf(okFor(q));
    }
    console.log(`      statuses: ${[...statuses].map(([s, n]) => `${s}×${n}`).join(' ')}`);
    // Settings that the fuzzing changed must still be sane enough to deliver.
    await api('PATCH', '/api/settings', SANE_SETTINGS);
  });

  it('answers random admin form posts with a page or a redirect, never a 500', async () => {
    const rand = prng(seed + 1);
    const g = generator(rand);
    const other = await startInProcess(db.get().url, {}, { loop: false });
    const c = new Client(other.url);
    try {
      expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
      const token = Client.token((await c.get('/admin/settings')).text);
      const e = (await api('POST', '/api/endpoints', { url: receiver.url, events: ['fuzz.form'], confirm: true })).body;
      const paths = [
        '/admin/endpoints',
        `/admin/endpoints/${e.id}`,
        '/admin/settings',
        `/admin/endpoints/${e.id}/replay-failed`,
        '/admin/endpoints/abc',
        '/admin/deliveries/999999/replay',
      ];
      for (let i = 0; i < 300; i++) {
        const form: Record<string, string | string[]> = { _csrf: token };
        for (const [k, v] of Object.entries(g.object(2))) form[k] = Array.isArray(v) ? v.map(g.text) : g.text(v);
        const path = g.pick(paths);
        const res = await c.request('POST', path, form);
        expect(res.status, `${path} ${JSON.stringify(form).slice(0, 300)}`).to.be.oneOf([303, 400, 404]);
      }
      for (let i = 0; i < 100; i++) {
        // Up to three parameters, so some repeat (?status=a&status=b).
        const q = new URLSearchParams();
        for (let k = 1 + Math.floor(rand() * 3); k > 0; k--)
          q.append(g.pick(['endpoint_id', 'status', 'since', 'until', 'before', 'event_type']), g.text(g.value(3)));
        expect((await c.get(`/admin/deliveries?${q}`)).status, q.toString().slice(0, 300)).to.be.oneOf(okFor(q));
        const before = encodeURIComponent(g.text(g.value(3)));
        expect((await c.get(`/admin/events?before=${before}`)).status).to.equal(200);
        expect((await c.get(`/admin/events?before=${before}&before=1&rejected=1`)).status).to.equal(400);
      }
    } finally {
      await other.stop();
      await api('PATCH', '/api/settings', SANE_SETTINGS);
    }
  });

  it('shows a payload nested 100,000 deep in the API and the pages, and answers repeated parameters with a 400 naming them', async () => {
    await api('PATCH', '/api/settings', { max_payload_bytes: 1 << 20 });
    await api('POST', '/api/endpoints', { url: receiver.url, events: ['deep.*'], confirm: true });
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    await insertOutbox(db.get().pool, [{ type: 'deep.nested', payload: deep }]);
    const got = await waitFor(
      'deep event delivered',
      () => receiver.received.find((r) => r.json.event === 'deep.nested'),
      20_000,
    );
    // Received is not yet recorded: results are written in batches.
    const list = await waitFor('the delivery recorded', async () => {
      const r = await api('GET', `/api/deliveries?event_id=${got.json.id}&status=succeeded`);
      return r.body.data.length ? r : null;
    });
    const res = await fetch(`${fx.sidecar.url}/api/deliveries/${list.body.data[0].id}`, {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    });
    expect(res.status).to.equal(200);
    const text = await res.text();
    expect(text).to.contain(`"payload":${got.raw.toString('utf8')}`);
    expect(JSON.parse(text).attempt_log).to.have.length(1);

    const c = new Client(fx.sidecar.url);
    expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
    const page = await c.get(`/admin/deliveries/${list.body.data[0].id}`);
    expect(page.status).to.equal(200);
    expect(page.text).to.match(/nested too deep to lay out/);

    for (const [path, name] of [
      ['/api/deliveries?status=failed&status=pending', 'status'],
      ['/api/deliveries?limit=1&event_type=a&event_type=b&event_type=c', 'event_type'],
    ]) {
      const r = await api('GET', path!);
      expect(r.status, path).to.equal(400);
      expect(r.body.error.field).to.equal(name);
      expect(r.body.error.message).to.match(new RegExp(`^query parameter ${name} was given \\d times; give it once$`));
    }
    const logPage = await c.get('/admin/deliveries?status=failed&status=pending');
    expect(logPage.status).to.equal(400);
    expect(logPage.text).to.contain('query parameter status was given 2 times; give it once');
    await api('PATCH', '/api/settings', { max_payload_bytes: 262144 });
  });

  it('stamps outbox rows of every shape as accepted or rejected with a reason, and keeps delivering', async () => {
    await api('PATCH', '/api/settings', { max_payload_bytes: 65536 });
    await api('POST', '/api/endpoints', { url: receiver.url, events: ['shape.*'], confirm: true });
    const shapes: { type: string; payload: string; eventId?: string }[] = [
      { type: 'shape.null', payload: 'null' },
      { type: 'shape.array', payload: '[1,2,3]' },
      { type: 'shape.string', payload: '"just a string"' },
      { type: 'shape.number', payload: '1e308' },
      { type: 'shape.empty', payload: '' },
      { type: 'shape.spaces', payload: '   ' },
      { type: 'shape.deep', payload: '['.repeat(10000) + ']'.repeat(10000) },
      { type: 'shape.huge', payload: JSON.stringify({ s: 'x'.repeat(70000) }) },
      { type: 'shape.trailing', payload: '{"a":1} trailing' },
      { type: 'shape.unicode', payload: JSON.stringify({ name: 'Zoë 😀 \u2028 \u0000' }) },
      { type: 'shape.json-ish', payload: "{'single': 'quotes'}" },
      { type: `shape.${'t'.repeat(180)}`, payload: '{}' },
      { type: 'shape with space', payload: '{}' },
      { type: 'shape.id', payload: '{}', eventId: 'e'.repeat(64) },
    ];
    await insertOutbox(db.get().pool, shapes);
    await insertOutbox(db.get().pool, [{ type: 'shape.after', payload: { ok: true } }]);
    await waitFor(
      'the row after them delivered',
      () => receiver.received.some((r) => r.json.event === 'shape.after'),
      20_000,
    );
    const [rows] = await db
      .get()
      .pool.query<RowDataPacket[]>(
        "SELECT event_type, fanned_out_at, rejected_reason FROM wp_webhook_outbox WHERE event_type LIKE 'shape%' ORDER BY id",
      );
    const reasons = Object.fromEntries(rows.map((r) => [String(r.event_type).slice(0, 20), r.rejected_reason]));
    expect(
      rows.every((r) => r.fanned_out_at !== null),
      'every row stamped',
    ).to.equal(true);
    for (const t of ['shape.empty', 'shape.spaces', 'shape.trailing', 'shape.json-ish'])
      expect(reasons[t], t).to.match(/^payload is not valid JSON/);
    expect(reasons['shape.huge']).to.match(/over the max_payload_bytes limit of 65536/);
    expect(reasons['shape with space']).to.match(/has a space \(U\+0020\)/);
    for (const t of [
      'shape.null',
      'shape.array',
      'shape.string',
      'shape.number',
      'shape.deep',
      'shape.unicode',
      'shape.id',
      'shape.after',
    ])
      expect(reasons[t], t).to.equal(null);
    const unicode = await waitFor('unicode delivered', () =>
      receiver.received.find((r) => r.json.event === 'shape.unicode'),
    );
    expect((unicode.json.data as { name: string }).name).to.equal('Zoë 😀 \u2028 \u0000');
    await api('PATCH', '/api/settings', { max_payload_bytes: 262144 });
  });
});
