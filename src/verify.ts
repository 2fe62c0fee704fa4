/**
 * For Node receivers: verify a delivery from this sidecar and get its
 * envelope back. Prefers the Standard Webhooks signature, which binds the
 * timestamp (so old captures are refused); falls back to X-Webhook-Signature.
 *
 *   import { verifyWebhook } from 'lms-webhooks-sidecar';
 *   const event = verifyWebhook(secret, rawBody, req.headers); // throws WebhookVerificationError
 */
import { timingSafeEqual } from 'node:crypto';
import { simpleSignatureHex, standardSignature } from './delivery/sign.js';

export class WebhookVerificationError extends Error {
  override name = 'WebhookVerificationError';
}

export interface Envelope<T = unknown> {
  id: string;
  event: string;
  created_at: string;
  data: T;
  /** In a WordPress network served whole: the site the event came from. */
  site?: { id: number; url: string };
}

export interface VerifyOptions {
  /** Largest accepted difference between webhook-timestamp and now (default 300 s). */
  toleranceSeconds?: number;
  nowSeconds?: number;
}

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return Array.isArray(v) ? v[0] : v;
  return undefined;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function verifyWebhook<T = unknown>(
  secret: string,
  rawBody: string | Buffer,
  headers: Headers,
  opts: VerifyOptions = {},
): Envelope<T> {
  const body = typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody;
  const id = header(headers, 'webhook-id');
  const ts = header(headers, 'webhook-timestamp');
  const sigs = header(headers, 'webhook-signature');
  if (id && ts && sigs) {
    if (!/^\d+$/.test(ts)) throw new WebhookVerificationError('webhook-timestamp is not a number of seconds');
    const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000);
    const tolerance = opts.toleranceSeconds ?? 300;
    if (Math.abs(now - Number(ts)) > tolerance)
      throw new WebhookVerificationError(
        `webhook-timestamp is more than ${tolerance} s from now; replayed or clock skew`,
      );
    const expected = standardSignature(secret, id, Number(ts), body);
    if (!sigs.split(' ').some((s) => same(s, expected)))
      throw new WebhookVerificationError('no webhook-signature matches this secret');
  } else {
    const simple = header(headers, 'x-webhook-signature');
    if (!simple) throw new WebhookVerificationError('no webhook-signature or X-Webhook-Signature header');
    // During a secret rotation the new secret's signature travels in X-Webhook-Signature-Next.
    const next = header(headers, 'x-webhook-signature-next');
    const expected = simpleSignatureHex(secret, body);
    if (!same(simple, expected) && !(next && same(next, expected))) {
      throw new WebhookVerificationError(
        'neither X-Webhook-Signature nor X-Webhook-Signature-Next matches this secret',
      );
    }
  }
  try {
    return JSON.parse(body.toString('utf8')) as Envelope<T>;
  } catch {
    throw new WebhookVerificationError('body is not JSON');
  }
}
