/**
 * The JSON API over real HTTP, against a sidecar whose delivery loop is off
 * (so deliveries stay where the test puts them).
 */
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2/promise';
import { insertOutbox, useTestDb } from '../support/db.js';
import { API_TOKEN, apiClient, startInProcess, type Api } from '../support/sidecar.js';
import type { Sidecar } from '../../src/sidecar.js';
import { fanOutBatch } from '../../src/delivery/fanout.js';

describe('JSON API', function () {
  this.timeout(30_000);
  const db = useTestDb('api');
  let sidecar: Sidecar;
  let api: Api;

  before(async () => {
    sidecar = await startInProcess(db.get().url, {}, { loop: false });
    api = apiClient(sidecar.url);
    db.get().beforeDrop(() => sidecar.stop());
  });

  describe('authentication', () => {
    it('answers 401 without a bearer token or with a wrong one', async () => {
      for (const token of [null, 'wrong-token-0123456789', '']) {
        const res = await api('GET', '/api/endpoints', undefined, token);
        expect(res.status).to.equal(401);
        expect(res.body.error.message).to.match(/bearer token/);
      }
      expect((await api('GET', '/api/endpoints')).status).to.equal(200);
    });

    it('is off (404 with a reason) when API_TOKEN is unset, API keys included', async () => {
      const other = await startInProcess(db.get().url, { API_TOKEN: '' }, { loop: false });
      try {
        const res = await apiClient(other.url)('GET', '/api/endpoints', undefined, API_TOKEN);
        expect(res.status).to.equal(404);
        expect(res.body.error.message).to.match(/set API_TOKEN/);
        const { key } = await other.service.createApiKey('ops', 'full');
        expect((await apiClient(other.url)('GET', '/api/endpoints', undefined, key)).status).to.equal(404);
      } finally {
        await other.stop();
      }
    });

    it('answers /healthz without a token', async () => {
      const res = await api('GET', '/healthz', undefined, null);
      expect(res.status).to.equal(200);
      expect(res.body).to.include({ status: 'ok', database: 'up' });
    });
  });

  describe('validation', () => {
    const cases: [string, string, unknown, RegExp][] = [
      ['POST', '/api/endpoints', { events: ['order.created'] }, /url is required/],
      ['POST', '/api/endpoints', { url: 'ftp://x.example', events: ['order.created'] }, /url must be an http/],
      ['POST', '/api/endpoints', { url: 'http://127.0.0.1:1/', events: 'order.created' }, /events must be an array/],
      ['POST', '/api/endpoints', { url: 'http://127.0.0.1:1/', events: [] }, /events must contain at least 1 items/],
      [
        'POST',
        '/api/endpoints',
        { url: 'http://127.0.0.1:1/', events: ['order created'] },
        /events\[0\] must be an event type/,
      ],
      ['POST', '/api/endpoints', { url: 'http://127.0.0.1:1/', events: ['*'], colour: 'red' }, /colour is not allowed/],
      [
        'POST',
        '/api/endpoints',
        { url: 'http://127.0.0.1:1/', events: ['*'], secret: 'short' },
        /secret length must be at least 16/,
      ],
      ['POST', '/api/endpoints', [1, 2], /body must be a JSON object/],
      ['PATCH', '/api/settings', { retry_schedule_seconds: 'often' }, /retry_schedule_seconds must be an array/],
      ['PATCH', '/api/settings', { timeout_seconds: 0 }, /timeout_seconds must be greater than or equal to 1/],
      ['PATCH', '/api/settings', {}, /must have at least 1 key/],
      ['GET', '/api/deliveries?status=lost', undefined, /status must be one of/],
      ['GET', '/api/deliveries?limit=100000', undefined, /limit must be less than or equal to 200/],
      ['GET', '/api/endpoints/abc', undefined, /id must be a number/],
      ['POST', '/api/endpoints/1/replay-failed', { since: 'yesterday' }, /since must be in ISO 8601 date format/],
    ];
    for (const [method, path, body, message] of cases) {
      it(`${method} ${path} ${JSON.stringify(body) ?? ''} → 400 naming the field`, async () => {
        const res = await api(method, path, body);
        expect(res.status, JSON.stringify(res.body)).to.equal(400);
        expect(res.body.error.code).to.equal('validation_error');
        expect(res.body.error.message).to.match(message);
      });
    }

    it('answers 400 for a body that is not JSON, and 404 for unknown ids', async () => {
      const bad = await api('POST', '/api/endpoints', '{"url": ');
      expect(bad.status).to.equal(400);
      expect(bad.body.error.code).to.equal('invalid_json');
      const missing = await api('GET', '/api/endpoints/999999');
      expect(missing.status).to.equal(404);
      expect(missing.body.error.message).to.equal('endpoint 999999 does not exist');
      expect((await api('POST', '/api/deliveries/999999/replay')).status).to.equal(404);
    });

    it('refuses private targets unless ALLOW_PRIVATE_TARGETS is set', async () => {
      const strict = await startInProcess(db.get().url, { ALLOW_PRIVATE_TARGETS: 'false' }, { loop: false });
      try {
        const res = await apiClient(strict.url)('POST', '/api/endpoints', {
          url: 'http://169.254.169.254/latest',
          events: ['*'],
        });
        expect(res.status).to.equal(400);
        expect(res.body.error.message).to.match(/169\.254\.169\.254.*linkLocal/);
      } finally {
        await strict.stop();
      }
    });
  });

  describe('endpoints', () => {
    it('creates with a generated secret shown once, masks it afterwards, patches and deletes', async () => {
      const created = await api('POST', '/api/endpoints', {
        url: 'http://127.0.0.1:9/hook',
        events: ['enrollment.*'],
        description: 'CRM',
      });
      expect(created.status).to.equal(201);
      expect(created.body.secret).to.match(/^whsec_[A-Za-z0-9+/]{43}=$/);
      const id = created.body.id;
      const got = await api('GET', `/api/endpoints/${id}`);
      expect(got.body.secret).to.not.equal(created.body.secret);
      expect(got.body.secret).to.match(/^whsec_…/);
      expect((await api('GET', '/api/endpoints')).body.data.find((e: { id: number }) => e.id === id).secret).to.match(
        /…/,
      );

      const patched = await api('PATCH', `/api/endpoints/${id}`, {
        events: ['order.created', 'payment.*'],
        enabled: false,
      });
      expect(patched.body).to.include({ enabled: false, disabled_reason: 'disabled by an operator' });
      expect(patched.body.events).to.deep.equal(['order.created', 'payment.*']);

      const custom = await api('POST', `/api/endpoints/${id}/rotate-secret`, {
        secret: 'my-own-secret-value-1',
        grace_hours: 0,
      });
      expect(custom.body.secret).to.equal('my-own-secret-value-1');
      expect(custom.body.previous_secret_expires_at).to.equal(null);

      expect((await api('DELETE', `/api/endpoints/${id}`)).status).to.equal(204);
      expect((await api('GET', `/api/endpoints/${id}`)).status).to.equal(404);
    });

    it('refuses a test event for a disabled endpoint with the reason', async () => {
      const e = (await api('POST', '/api/endpoints', { url: 'http://127.0.0.1:9/', events: ['*'], enabled: false }))
        .body;
      const res = await api('POST', `/api/endpoints/${e.id}/test`);
      expect(res.status).to.equal(400);
      expect(res.body.error.message).to.match(/disabled; enable it/);
    });
  });

  describe('deliveries', () => {
    it('lists newest first with keyset pagination and filters', async () => {
      const e = (
        await api('POST', '/api/endpoints', {
          url: 'http://127.0.0.1:9/',
          events: ['lesson.completed', 'quiz.submitted'],
        })
      ).body;
      await insertOutbox(db.get().pool, [
        ...Array.from({ length: 5 }, (_, i) => ({ type: 'lesson.completed', payload: { i } })),
        ...Array.from({ length: 3 }, (_, i) => ({ type: 'quiz.submitted', payload: { i } })),
      ]);
      await fanOutBatch(sidecar.pool, sidecar.tables, { limit: 100, maxPayloadBytes: 1 << 20 });

      const seen: number[] = [];
      let cursor: string | null = null;
      do {
        const page: { status: number; body: { data: { id: number }[]; next_cursor: string | null } } = await api(
          'GET',
          `/api/deliveries?endpoint_id=${e.id}&limit=3${cursor ? `&before=${cursor}` : ''}`,
        );
        seen.push(...page.body.data.map((d) => d.id));
        cursor = page.body.next_cursor;
      } while (cursor);
      expect(seen).to.have.length(8);
      expect([...seen].sort((a, b) => b - a)).to.deep.equal(seen);

      const quiz = await api('GET', `/api/deliveries?endpoint_id=${e.id}&event_type=quiz.submitted&status=pending`);
      expect(quiz.body.data).to.have.length(3);
      const one = quiz.body.data[0];
      const byEvent = await api('GET', `/api/deliveries?event_id=${one.event_id}`);
      // Every endpoint subscribed to the event has a delivery with the same event id.
      expect(byEvent.body.data.map((d: { id: number }) => d.id)).to.include(one.id);
      expect(byEvent.body.data.every((d: { event_id: string }) => d.event_id === one.event_id)).to.equal(true);

      const detail = await api('GET', `/api/deliveries/${one.id}`);
      expect(detail.body.payload).to.deep.include({ id: one.event_id, event: 'quiz.submitted' });
      expect(detail.body.attempt_log).to.deep.equal([]);
    });
  });

  describe('settings', () => {
    it('reads defaults, applies a patch and keeps it in the database', async () => {
      const before = await api('GET', '/api/settings');
      expect(before.body.retry_schedule_seconds).to.deep.equal([60, 300, 1800, 7200, 86400]);
      expect(before.body.timeout_seconds).to.equal(10);
      const res = await api('PATCH', '/api/settings', { retry_schedule_seconds: [5, 10], timeout_seconds: 3 });
      expect(res.body).to.include({ timeout_seconds: 3 });
      const [rows] = await db
        .get()
        .pool.query<RowDataPacket[]>("SELECT value FROM wp_webhook_settings WHERE name = 'retry_schedule_seconds'");
      expect(JSON.parse(rows[0]!.value)).to.deep.equal([5, 10]);
    });
  });
});
