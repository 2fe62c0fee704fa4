import { expect } from 'chai';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import {
  generateSecret,
  signedHeaders,
  simpleSignatureHex,
  standardKey,
  standardSignature,
} from '../../src/delivery/sign.js';
import { compactHeaders, expandHeaders } from '../../src/db/attempts.js';

describe('signing', () => {
  it('matches the Standard Webhooks known-answer vector', () => {
    // From standard-webhooks libraries/javascript "sign function works".
    const sig = standardSignature(
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      'msg_p5jXN8AQM9LWM0D4loKWxJek',
      1614265330,
      '{"test": 2432232314}',
    );
    expect(sig).to.equal('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('keys X-Webhook-Signature with the secret string as typed, whsec_ prefix included', () => {
    const expected = createHmac('sha256', 'whsec_abc').update('{"a":1}').digest('hex');
    expect(simpleSignatureHex('whsec_abc', '{"a":1}')).to.equal(expected);
    expect(simpleSignatureHex('whsec_abc', Buffer.from('{"a":1}'))).to.equal(expected);
  });

  it('keys Standard Webhooks with the decoded whsec_ part, or UTF-8 bytes of other secrets', () => {
    expect(standardKey('whsec_AAEC').equals(Buffer.from([0, 1, 2]))).to.equal(true);
    expect(standardKey('my-own-secret-1234').toString('utf8')).to.equal('my-own-secret-1234');
  });

  it('generates whsec_ + base64 of 32 random bytes', () => {
    const s = generateSecret();
    expect(s).to.match(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(s.slice(6), 'base64')).to.have.length(32);
    expect(generateSecret()).to.not.equal(s);
  });

  it('produces headers both verifiers accept, and both secrets during a rotation', () => {
    const current = generateSecret();
    const previous = generateSecret();
    const body = Buffer.from(
      '{"id":"evt_1","event":"enrollment.created","created_at":"2025-03-20T10:30:00Z","data":{}}',
    );
    const ts = Math.floor(Date.now() / 1000);
    const h = signedHeaders({
      eventId: 'evt_1',
      eventType: 'enrollment.created',
      body,
      timestampSeconds: ts,
      secrets: [current, previous],
      userAgent: 'ua/1',
    });
    expect(h['webhook-signature']!.split(' ')).to.have.length(2);
    // The contract's seed snippet: a receiver still holding the previous secret checks
    // X-Webhook-Signature, one already given the new secret checks X-Webhook-Signature-Next.
    const hex = (secret: string) => createHmac('sha256', secret).update(body).digest('hex');
    expect(timingSafeEqual(Buffer.from(h['x-webhook-signature']!), Buffer.from(hex(previous)))).to.equal(true);
    expect(timingSafeEqual(Buffer.from(h['x-webhook-signature-next']!), Buffer.from(hex(current)))).to.equal(true);
    // Outside a rotation: the one secret in X-Webhook-Signature, and no -Next header.
    const after = signedHeaders({
      eventId: 'evt_1',
      eventType: 'enrollment.created',
      body,
      timestampSeconds: ts,
      secrets: [current],
      userAgent: 'ua/1',
    });
    expect(after['x-webhook-signature']).to.equal(hex(current));
    expect(after).to.not.have.property('x-webhook-signature-next');
    // An independent Standard Webhooks implementation, with each key:
    for (const secret of [current, previous]) {
      expect(() => new Webhook(secret).verify(body.toString(), h)).to.not.throw();
    }
    expect(() => new Webhook(generateSecret()).verify(body.toString(), h)).to.throw();
    expect(h['x-webhook-timestamp']).to.equal(String(ts));
    expect(h['x-webhook-id']).to.equal('evt_1');
    expect(h['x-webhook-event']).to.equal('enrollment.created');
    expect(h['user-agent']).to.equal('ua/1');
  });

  it('verifies a typed (non-whsec) secret as its UTF-8 bytes', () => {
    const secret = 'typed-by-operator-123';
    const body = '{"x":1}';
    const h = signedHeaders({
      eventId: 'evt_2',
      eventType: 't',
      body: Buffer.from(body),
      timestampSeconds: Math.floor(Date.now() / 1000),
      secrets: [secret],
      userAgent: 'ua',
    });
    expect(() => new Webhook(Buffer.from(secret).toString('base64')).verify(body, h)).to.not.throw();
  });

  it("stores an attempt's headers compactly and reads back exactly what was sent: rotation, extra headers, auth", () => {
    const sent = {
      'x-tenant': 't1',
      ...signedHeaders({
        eventId: 'evt_1',
        eventType: 'order.created',
        body: Buffer.from('{}'),
        timestampSeconds: 1_765_000_000,
        secrets: ['whsec_' + Buffer.alloc(32, 1).toString('base64'), 'an-older-secret-of-16'],
        userAgent: 'lms-webhooks-sidecar/1',
      }),
      authorization: 'Bearer ****',
    };
    const c = compactHeaders(sent, 'evt_1', 'order.created')!;
    expect(c.own.length, 'what is stored per attempt').to.be.below(JSON.stringify(sent).length / 2);
    expect(c.shared).to.not.contain('evt_1').and.not.contain('1765000000');
    expect(expandHeaders(JSON.parse(c.shared), JSON.parse(c.own), 'evt_1', 'order.created')).to.deep.equal(sent);
    // Another attempt of another event to the same endpoint shares the set.
    const next = signedHeaders({
      eventId: 'evt_2',
      eventType: 'order.created',
      body: Buffer.from('{"a":1}'),
      timestampSeconds: 1_765_000_060,
      secrets: ['whsec_' + Buffer.alloc(32, 1).toString('base64'), 'an-older-secret-of-16'],
      userAgent: 'lms-webhooks-sidecar/1',
    });
    expect(
      compactHeaders({ 'x-tenant': 't1', ...next, authorization: 'Bearer ****' }, 'evt_2', 'order.created')!.hash,
    ).to.deep.equal(c.hash);
    // Not our usual shape: stored whole.
    expect(compactHeaders({}, 'evt_1', 'order.created')).to.equal(null);
    expect(compactHeaders(sent, 'evt_other', 'order.created')).to.equal(null);
  });
});
