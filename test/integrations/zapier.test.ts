/**
 * The Zapier integration (integrations/zapier), run by zapier-platform-core's
 * own app tester against a real sidecar: the authentication test, a REST
 * hook subscribed by a `hooks` key, an outbox event reaching the target
 * URL, performList in the live payload's shape, unsubscribe. And the
 * scopes: a `hooks` key is refused everywhere else, a revoked key pauses
 * its hooks, a 410 from a target removes its subscription, and keys never
 * show again after they are made.
 */
import { expect } from 'chai';
import { createRequire } from 'node:module';
import { insertOutbox, useTestDb } from '../support/db.js';
import { API_TOKEN, FAST_RETRIES, useSidecar } from '../support/sidecar.js';
import { waitFor } from '../support/wait.js';
import { CATALOG, EVENT_CATALOG, SAMPLE_PAYLOADS } from '../../src/catalog.js';
import { openApiDocument } from '../../src/web/openapi.js';

interface ZapierApp {
  authentication: { test: unknown };
  triggers: {
    lms_event: {
      operation: { performSubscribe: unknown; performUnsubscribe: unknown; perform: unknown; performList: unknown };
      EVENT_CHOICES: Record<string, string>;
    };
  };
}
type AppTester = (method: unknown, bundle: Record<string, unknown>) => Promise<any>;

const load = createRequire(import.meta.url);
const App = load('../../../integrations/zapier/index.js') as ZapierApp;
const appTester = (load('zapier-platform-core') as { createAppTester(app: unknown): AppTester }).createAppTester(App);
const op = App.triggers.lms_event.operation;

describe('Zapier integration and API keys', function () {
  this.timeout(60_000);
  const db = useTestDb('zapier');
  const fx = useSidecar(db);
  const { api } = fx;
  let key: string;
  let authData: { base_url: string; api_key: string };

  before(async () => {
    expect((await api('PATCH', '/api/settings', FAST_RETRIES)).status).to.equal(200);
    ({ key } = await fx.sidecar.service.createApiKey('Zapier (marketing)', 'hooks'));
    authData = { base_url: `${fx.sidecar.url}/`, api_key: key };
  });
  afterEach(() => fx.reset());

  it('tests the connection, subscribes, receives an event, lists samples in the live shape, and unsubscribes', async () => {
    expect(await appTester(App.authentication.test, { authData })).to.deep.include({
      name: 'Zapier (marketing)',
      scope: 'hooks',
    });
    const target = await fx.receiver();
    const inputData = { event: 'enrollment.created' };
    const sub = await appTester(op.performSubscribe, {
      authData,
      inputData,
      targetUrl: `${target.url}/hooks/standard/123/abc`,
    });
    expect(sub).to.include({ event: 'enrollment.created' }).and.to.have.property('id').that.is.a('number');
    const listed = (await api('GET', `/api/endpoints/${sub.id}`)).body;
    expect(listed).to.include({ type: 'zapier', description: 'Zapier REST hook (Zapier (marketing))' });
    expect(listed.api_key_id).to.be.a('number');

    await insertOutbox(db.get().pool, [
      { type: 'enrollment.created', payload: { student_id: 'student_7', student_name: 'Ada', course_id: 'c1' } },
      { type: 'order.created', payload: { order_id: 'o1' } },
    ]);
    const got = await waitFor('the event at the target URL', () => target.received[0]);
    expect(got.path).to.equal('/hooks/standard/123/abc');
    expect(got.json).to.include({ event: 'enrollment.created' });
    expect(got.headers['x-webhook-signature']).to.be.a('string');

    const performed = await appTester(op.perform, { authData, inputData, cleanedRequest: got.json });
    expect(performed).to.deep.equal([got.json]);
    const samples = await appTester(op.performList, { authData, inputData });
    expect(samples).to.be.an('array').with.length(1);
    expect(samples[0], 'performList returns exactly what a Zap receives').to.deep.equal(got.json);

    await appTester(op.performUnsubscribe, { authData, subscribeData: sub });
    expect((await api('GET', `/api/endpoints/${sub.id}`)).status).to.equal(404);
    expect(target.received).to.have.length(1);
  });

  it('gives the catalog example as the sample when no such event was recorded yet', async () => {
    const samples = await appTester(op.performList, { authData, inputData: { event: 'certificate.issued' } });
    const example = CATALOG.find((c) => c.type === 'certificate.issued')!.example;
    expect(samples).to.deep.equal([
      {
        id: 'evt_sample_certificate_issued',
        event: 'certificate.issued',
        created_at: '2025-03-20T10:30:00Z',
        data: example,
      },
    ]);
  });

  it('refuses a hooks key on every other route with 403 naming the scope, and hooks it did not make with 404', async () => {
    const doc = openApiDocument('test') as { paths: Record<string, Record<string, unknown>> };
    let checked = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      if (path === '/openapi.json' || path === '/me' || path.startsWith('/hooks')) continue;
      for (const method of ['get', 'post', 'patch', 'delete'].filter((m) => m in ops)) {
        const body = method === 'get' || method === 'delete' ? undefined : {};
        const res = await api(method.toUpperCase(), `/api${path.replace('{id}', '1')}`, body, key);
        expect(res.status, `${method} ${path}`).to.equal(403);
        expect(res.body.error.message, `${method} ${path}`).to.include('scope is hooks');
        expect(res.body.error.scope).to.equal('hooks');
        checked++;
      }
    }
    expect(checked).to.be.above(15);
    const other = await api('POST', '/api/hooks', { target_url: 'https://hooks.zapier.com/x', event: 'order.*' });
    expect(other.status).to.equal(201);
    expect((await api('DELETE', `/api/hooks/${other.body.id}`, undefined, key)).status).to.equal(404);
    expect((await api('DELETE', `/api/hooks/${other.body.id}`)).status).to.equal(204);
  });

  it('removes a subscription whose target answers 410, as Zapier documents', async () => {
    const target = await fx.receiver(() => ({ status: 410 }));
    const sub = (await api('POST', '/api/hooks', { target_url: `${target.url}/gone`, event: 'quiz.*' }, key)).body;
    await insertOutbox(db.get().pool, [{ type: 'quiz.submitted', payload: { score: 1 } }]);
    await waitFor(
      'the subscription removed',
      async () => (await api('GET', `/api/endpoints/${sub.id}`)).status === 404,
    );
    expect(target.received).to.have.length(1);
  });

  it('a revoked key is refused, and the hooks it made are disabled with their events kept', async () => {
    const { key: doomed, apiKey } = await fx.sidecar.service.createApiKey('temporary', 'hooks');
    const target = await fx.receiver();
    const sub = (await api('POST', '/api/hooks', { target_url: `${target.url}/t`, event: 'order.created' }, doomed))
      .body;
    expect((await api('GET', '/api/me', undefined, doomed)).body).to.include({ name: 'temporary', scope: 'hooks' });
    expect(await fx.sidecar.service.revokeApiKey(apiKey.id)).to.deep.equal({ paused: 1 });
    const refused = await api('GET', '/api/me', undefined, doomed);
    expect(refused.status).to.equal(401);
    expect(refused.body.error.message).to.equal('this API key was revoked');
    const hook = (await api('GET', `/api/endpoints/${sub.id}`)).body;
    expect(hook.enabled).to.equal(false);
    expect(hook.disabled_reason).to.equal('the API key "temporary" that made this REST hook was revoked');
    await insertOutbox(db.get().pool, [{ type: 'order.created', payload: { order_id: 'kept' } }]);
    await waitFor(
      'paused',
      async () => (await api('GET', `/api/deliveries?endpoint_id=${sub.id}`)).body.data[0]?.status === 'paused',
    );
    expect(target.received).to.have.length(0);
  });

  it('API_TOKEN stays a full key; keys are refused when wrong', async () => {
    expect((await api('GET', '/api/me')).body).to.deep.equal({ name: 'API_TOKEN', scope: 'full', key_id: null });
    expect((await api('GET', '/api/endpoints', undefined, `${key}x`)).status).to.equal(401);
    expect((await api('GET', '/api/endpoints', undefined, 'whk_nope')).status).to.equal(401);
    expect(API_TOKEN).to.be.a('string');
  });

  it('ships as its static sample what the samples route gives for enrollment.created before any event', () => {
    expect((op as unknown as { sample: unknown }).sample).to.deep.equal({
      id: 'evt_sample_enrollment_created',
      event: 'enrollment.created',
      created_at: '2025-03-20T10:30:00Z',
      data: SAMPLE_PAYLOADS['enrollment.created'],
    });
  });

  it('offers exactly the catalog (with each group’s wildcard and *) as the trigger’s event choices', () => {
    const expected = ['*'];
    for (const types of Object.values(EVENT_CATALOG)) {
      if (types[0]!.startsWith('webhook.')) continue;
      const prefix = types[0]!.split('.')[0]!;
      if (types.length > 1 && types.every((t) => t.startsWith(`${prefix}.`))) expected.push(`${prefix}.*`);
      expected.push(...types);
    }
    expect(Object.keys(App.triggers.lms_event.EVENT_CHOICES).sort()).to.deep.equal(expected.sort());
  });
});
