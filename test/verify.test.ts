import { expect } from 'chai';
import { verifyWebhook, WebhookVerificationError } from '../src/index.js';
import { generateSecret, signedHeaders } from '../src/delivery/sign.js';

describe('verifyWebhook (the helper for Node receivers)', () => {
  const secret = generateSecret();
  const body = '{"id":"evt_1","event":"order.created","created_at":"2025-03-20T10:30:00Z","data":{"order_id":7}}';
  const now = 1_742_466_600;
  const headers = (over: Partial<{ secrets: string[]; ts: number }> = {}) =>
    signedHeaders({
      eventId: 'evt_1',
      eventType: 'order.created',
      body: Buffer.from(body),
      timestampSeconds: over.ts ?? now,
      secrets: over.secrets ?? [secret],
      userAgent: 'ua',
    });

  it('returns the envelope when the Standard Webhooks signature verifies', () => {
    const env = verifyWebhook<{ order_id: number }>(secret, body, headers(), { nowSeconds: now + 10 });
    expect(env).to.include({ id: 'evt_1', event: 'order.created' });
    expect(env.data.order_id).to.equal(7);
  });

  it('accepts either secret during a rotation, in upper-case headers too', () => {
    const old = generateSecret();
    const h = Object.fromEntries(
      Object.entries(headers({ secrets: [secret, old] })).map(([k, v]) => [k.toUpperCase(), v]),
    );
    expect(verifyWebhook(old, Buffer.from(body), h, { nowSeconds: now }).id).to.equal('evt_1');
  });

  it('refuses a wrong secret, a changed body, and a stale timestamp with a reason', () => {
    expect(() => verifyWebhook(generateSecret(), body, headers(), { nowSeconds: now })).to.throw(
      WebhookVerificationError,
      /no webhook-signature matches/,
    );
    expect(() => verifyWebhook(secret, body.replace('7', '8'), headers(), { nowSeconds: now })).to.throw(
      WebhookVerificationError,
    );
    expect(() => verifyWebhook(secret, body, headers(), { nowSeconds: now + 301 })).to.throw(
      /more than 300 s from now/,
    );
  });

  it('falls back to X-Webhook-Signature when the Standard Webhooks headers are absent', () => {
    const h = headers();
    const simple = { 'x-webhook-signature': h['x-webhook-signature'] };
    expect(verifyWebhook(secret, body, simple).id).to.equal('evt_1');
    expect(() => verifyWebhook(secret, body + ' ', simple)).to.throw(
      /neither X-Webhook-Signature nor X-Webhook-Signature-Next matches this secret/,
    );
    expect(() => verifyWebhook(secret, body, {})).to.throw(/no webhook-signature/);
  });
});
