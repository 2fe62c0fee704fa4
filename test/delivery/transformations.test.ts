/**
 * Transformations through the pipeline, against real receivers: the body
 * sent is the transformed one and its signatures verify (HMAC, Standard
 * Webhooks, Ed25519); cancelling sends nothing; failing code fails the
 * attempt as the operator's, once, without touching the endpoint's
 * health; hostile code does not hold up another endpoint.
 */
import { expect } from 'chai';
import { createPublicKey, verify } from 'node:crypto';
import { insertOutbox, useTestDb } from '../support/db.js';
import { FAST_RETRIES, useSidecar } from '../support/sidecar.js';
import { waitFor } from '../support/wait.js';
import { verifyWebhook } from '../../src/verify.js';
import { TRANSFORMATION_BACKOFF_AFTER } from '../../src/db/transformBackoff.js';
import { POOL_SIZE } from '../../src/delivery/transformPool.js';

const RENAME = `function handler(webhook) {
  var d = webhook.payload.data;
  webhook.payload = { contact_id: d.student_id, course: d.course_id, source: webhook.eventType };
  return webhook;
}`;

describe('transformations', function () {
  this.timeout(60_000);
  const db = useTestDb('transform');
  const fx = useSidecar(db);
  const { api } = fx;

  before(async () => {
    expect((await api('PATCH', '/api/settings', FAST_RETRIES)).status).to.equal(200);
  });
  afterEach(() => fx.reset());

  const deliveries = async (id: number) =>
    (await api('GET', `/api/deliveries?endpoint_id=${id}`)).body.data as {
      id: number;
      status: string;
      attempts: number;
      last_error: string | null;
    }[];

  it('sends the transformed body, signed over the bytes sent: HMAC, Standard Webhooks and Ed25519 verify', async () => {
    const receiver = await fx.receiver();
    const hmac = await fx.endpoint(`${receiver.url}/hmac`, ['enrollment.*'], { transformation: RENAME });
    const ed = await fx.endpoint(`${receiver.url}/ed`, ['enrollment.*'], {
      transformation: RENAME,
      signing: 'ed25519',
    });
    await insertOutbox(db.get().pool, [{ type: 'enrollment.created', payload: { student_id: 's9', course_id: 'c3' } }]);
    await waitFor('both', () => receiver.received.length === 2);
    for (const r of receiver.received) {
      expect(JSON.parse(r.raw.toString())).to.deep.equal({
        contact_id: 's9',
        course: 'c3',
        source: 'enrollment.created',
      });
    }
    const byHmac = receiver.received.find((r) => r.path === '/hmac')!;
    const { 'webhook-id': _id, 'webhook-timestamp': _ts, 'webhook-signature': _sig, ...simple } = byHmac.headers;
    // X-Webhook-Signature alone, then the Standard Webhooks headers.
    expect(() => verifyWebhook(hmac.secret, byHmac.raw, simple as Record<string, string>)).to.not.throw();
    expect(() => verifyWebhook(hmac.secret, byHmac.raw, byHmac.headers as Record<string, string>)).to.not.throw();
    const byEd = receiver.received.find((r) => r.path === '/ed')!;
    const publicKey = (await api('GET', `/api/endpoints/${ed.id}`)).body.public_key as string;
    const key = createPublicKey({
      key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(publicKey.slice(5), 'base64')]),
      format: 'der',
      type: 'spki',
    });
    const signed = `${String(byEd.headers['webhook-id'])}.${String(byEd.headers['webhook-timestamp'])}.${byEd.raw.toString()}`;
    const v1a = String(byEd.headers['webhook-signature'])
      .split(' ')
      .find((s) => s.startsWith('v1a,'))!;
    expect(verify(null, Buffer.from(signed), key, Buffer.from(v1a.slice(4), 'base64'))).to.equal(true);
  });

  it('PUTs to the URL the code chose', async () => {
    const receiver = await fx.receiver();
    await fx.endpoint(`${receiver.url}/contacts`, ['order.*'], {
      transformation:
        'function handler(w) { w.method = "PUT"; w.url = w.url + "/" + w.payload.data.order_id; return w; }',
    });
    await insertOutbox(db.get().pool, [{ type: 'order.created', payload: { order_id: 'o77' } }]);
    const got = await waitFor('the PUT', () => receiver.received[0]);
    expect(got.path).to.equal('/contacts/o77');
  });

  it('cancels: nothing is sent, the delivery says "cancelled by transformation", and the next one goes', async () => {
    const receiver = await fx.receiver();
    const ep = await fx.endpoint(`${receiver.url}/only-paid`, ['order.*'], {
      transformation: 'function handler(w) { if (w.payload.data.total === 0) w.cancel = true; return w; }',
    });
    await insertOutbox(db.get().pool, [
      { type: 'order.created', payload: { order_id: 'free', total: 0 } },
      { type: 'order.created', payload: { order_id: 'paid', total: 4900 } },
    ]);
    await waitFor(
      'both settled',
      async () =>
        (await deliveries(ep.id)).every((d) => d.status !== 'pending') && (await deliveries(ep.id)).length === 2,
    );
    const list = await deliveries(ep.id);
    expect(list.map((d) => d.status).sort()).to.deep.equal(['cancelled', 'succeeded']);
    const cancelled = list.find((d) => d.status === 'cancelled')!;
    expect(cancelled).to.include({ attempts: 0, last_error: 'cancelled by transformation: nothing was sent' });
    expect(receiver.received.map((r) => (r.json.data as { order_id: string }).order_id)).to.deep.equal(['paid']);
    expect((await api('GET', `/api/deliveries?status=cancelled`)).body.data).to.have.length(1);
  });

  it('failing code fails its attempt once as the operator’s, with the line; fixed code replays it', async () => {
    const receiver = await fx.receiver();
    const ep = await fx.endpoint(`${receiver.url}/crm`, ['quiz.*'], {
      transformation: 'function handler(w) {\n  return w.payload.data.missing.field;\n}',
    });
    await insertOutbox(db.get().pool, [{ type: 'quiz.submitted', payload: { score: 1 } }]);
    await waitFor('failed', async () => (await deliveries(ep.id))[0]?.status === 'failed');
    const [d] = await deliveries(ep.id);
    expect(d!.attempts).to.equal(1);
    const detail = (await api('GET', `/api/deliveries/${d!.id}`)).body;
    expect(detail.attempt_log[0]).to.include({ error_class: 'transformation', status_code: null });
    expect(detail.attempt_log[0].error_message).to.match(/^TypeError: .* \(line 2\); nothing was sent$/);
    expect((await api('GET', `/api/endpoints/${ep.id}`)).body).to.include({ enabled: true, failing_since: null });
    expect(receiver.received).to.have.length(0);
    expect(
      (await api('PATCH', `/api/endpoints/${ep.id}`, { transformation: RENAME.replace('d.course_id', '"none"') }))
        .status,
    ).to.equal(200);
    expect((await api('POST', `/api/deliveries/${d!.id}/replay`)).status).to.equal(202);
    await waitFor('replayed', () => receiver.received.length === 1);
  });

  it('stops hostile code on its own attempt while another endpoint’s deliveries go out; a run stopped at its limit makes the endpoint’s deliveries wait, and new code sends them', async () => {
    const receiver = await fx.receiver();
    const bad = await fx.endpoint(`${receiver.url}/bad`, ['course.*'], {
      transformation: 'function handler(w) { while (true) {} }',
    });
    await fx.endpoint(`${receiver.url}/good`, ['course.*']);
    await fx.endpoint(`${receiver.url}/ops`, ['webhook.*']);
    await insertOutbox(
      db.get().pool,
      Array.from({ length: 10 }, (_, i) => ({ type: 'course.updated', payload: { course_id: `c${i}` } })),
    );
    await waitFor(
      'the good endpoint got all ten',
      () => receiver.received.filter((r) => r.path === '/good').length === 10,
    );
    const settled = async () => {
      const list = await deliveries(bad.id);
      const failed = list.filter((d) => d.status === 'failed');
      const waiting = list.filter((d) => d.status === 'pending' && d.last_error?.startsWith('waiting: '));
      return failed.length + waiting.length === 10 ? { failed, waiting } : null;
    };
    await waitFor('one failed, the rest waiting', async () => (await settled()) !== null);
    const { failed, waiting } = (await settled())!;
    // Stopped at a limit: the runs queued behind it are answered by the pool without running (one ran on this
    // 2-core host's one worker; a bigger host's pool may have started one more per extra worker meanwhile).
    expect(failed.length).to.be.within(1, POOL_SIZE);
    expect(waiting.length).to.equal(10 - failed.length);
    expect(waiting.every((d) => d.attempts === 0)).to.equal(true);
    const detail = (await api('GET', `/api/deliveries/${failed[0]!.id}`)).body;
    // The CPU limit, or on a starved host the wall-clock limit, stops it first.
    expect(detail.attempt_log[0].error_message).to.match(/longer than (50 ms of CPU|1000 ms)/);
    expect(receiver.received.filter((r) => r.path === '/bad')).to.have.length(0);
    const metrics = await (await fetch(`${fx.sidecar.url}/metrics`)).text();
    expect(metrics).to.match(/^webhooks_transform_workers\{state="started"\} [1-9]/m);
    expect(metrics).to.match(/^webhooks_transform_stops_total \d+/m);
    const ep = (await api('GET', `/api/endpoints/${bad.id}`)).body;
    expect(ep).to.include({ transformation_failures: TRANSFORMATION_BACKOFF_AFTER, failing_since: null });
    expect(Date.parse(ep.transformation_retry_at)).to.be.greaterThan(Date.now());
    const reported = (type: string) => receiver.received.find((r) => r.path === '/ops' && r.json.event === type);
    await waitFor('reported failing', () => reported('webhook.endpoint_failing') !== undefined);
    const report = reported('webhook.endpoint_failing')!.json;
    expect(report.data).to.include({
      endpoint_id: bad.id,
      reason: 'transformation',
      failures_in_a_row: TRANSFORMATION_BACKOFF_AFTER,
    });
    // Fixed code: what waited goes now, and the endpoint is reported recovered.
    expect(
      (await api('PATCH', `/api/endpoints/${bad.id}`, { transformation: 'function handler(w) { return w; }' })).status,
    ).to.equal(200);
    await waitFor(
      'the waiting ones sent',
      () => receiver.received.filter((r) => r.path === '/bad').length === waiting.length,
    );
    await waitFor('reported recovered', () => reported('webhook.endpoint_recovered') !== undefined);
    expect(reported('webhook.endpoint_recovered')!.json.data).to.include({
      endpoint_id: bad.id,
      reason: 'transformation',
    });
    expect((await api('GET', `/api/endpoints/${bad.id}`)).body).to.include({
      transformation_failures: 0,
      transformation_retry_at: null,
    });
  });

  it('refuses code that does not compile, with the line, and takes null to remove it', async () => {
    const res = await api('POST', '/api/endpoints', {
      url: 'https://crm.example.com/x',
      events: ['*'],
      transformation: 'function handler(w) {\n  return w\n',
    });
    expect(res.status).to.equal(400);
    expect(res.body.error.field).to.equal('transformation');
    expect(res.body.error.message).to.match(/^transformation: SyntaxError: .*\(line \d\)$/);
    const ok = await fx.endpoint('https://crm.example.com/y', ['*'], { transformation: RENAME });
    expect((await api('PATCH', `/api/endpoints/${ok.id}`, { transformation: null })).body.transformation).to.equal(
      null,
    );
  });
});
