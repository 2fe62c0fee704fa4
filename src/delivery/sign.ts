/**
 * Signing, as the contract fixes it. Pure functions, pinned by known-answer tests.
 *
 * - X-Webhook-Signature: hex HMAC-SHA256 of the raw body, keyed with the
 *   secret string exactly as typed (including any whsec_ prefix). During a
 *   rotation's grace period it stays keyed with the previous secret (what
 *   receivers not yet changed hold) and X-Webhook-Signature-Next carries
 *   the new secret's; after the grace period the new secret takes over.
 * - webhook-signature (Standard Webhooks): "v1," + base64 HMAC-SHA256 of
 *   "{id}.{timestamp}.{body}", keyed with the base64-decoded part after
 *   whsec_, or the secret's UTF-8 bytes otherwise; one entry per active
 *   secret, space-separated, during a rotation.
 * - Ed25519 endpoints: webhook-signature is "v1a," + base64 Ed25519
 *   signature of "{id}.{timestamp}.{body}"; receivers verify with the
 *   endpoint's public key (whpk_ + base64 of the raw 32 bytes) alone.
 *   X-Webhook-Signature stays the hex HMAC.
 */
import { createHmac, createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

export const SECRET_PREFIX = 'whsec_';

export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

export function simpleSignatureHex(secret: string, body: Buffer | string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

export function standardKey(secret: string): Buffer {
  return secret.startsWith(SECRET_PREFIX)
    ? Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64')
    : Buffer.from(secret, 'utf8');
}

export function standardSignature(secret: string, id: string, timestampSeconds: number, body: Buffer | string): string {
  const mac = createHmac('sha256', standardKey(secret))
    .update(`${id}.${timestampSeconds}.`)
    .update(body)
    .digest('base64');
  return `v1,${mac}`;
}

export const PUBLIC_KEY_PREFIX = 'whpk_';

/** A new Ed25519 key pair: the private key as PKCS#8 DER base64 (stored, never shown) and the public key as whpk_… */
export function generateEd25519(): { signingKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  // The raw key is the last 32 bytes of its SPKI DER encoding.
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return {
    signingKey: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
    publicKey: PUBLIC_KEY_PREFIX + raw.toString('base64'),
  };
}

/** Parsed Ed25519 keys by their stored text: parsing PKCS#8 on every request would cost more than signing. */
const ed25519Keys = new Map<string, KeyObject>();

/** The endpoint's stored key (PKCS#8 DER, base64) as a KeyObject, parsed once per process. */
export function ed25519PrivateKey(signingKey: string): KeyObject {
  let k = ed25519Keys.get(signingKey);
  if (!k) {
    if (ed25519Keys.size > 1000) ed25519Keys.clear();
    k = createPrivateKey({ key: Buffer.from(signingKey, 'base64'), format: 'der', type: 'pkcs8' });
    ed25519Keys.set(signingKey, k);
  }
  return k;
}

export function ed25519Signature(key: KeyObject, id: string, timestampSeconds: number, body: Buffer): string {
  return `v1a,${sign(null, Buffer.concat([Buffer.from(`${id}.${timestampSeconds}.`), body]), key).toString('base64')}`;
}

export interface SigningInput {
  eventId: string;
  eventType: string;
  body: Buffer;
  timestampSeconds: number;
  /** Current secret first, then any still in their grace period. */
  secrets: readonly string[];
  userAgent: string;
  /** Set for an Ed25519 endpoint: webhook-signature carries its v1a signature instead of v1 HMACs. */
  ed25519?: KeyObject | null;
}

/** Every header of one attempt. The body passed here is the body sent. */
export function signedHeaders(input: SigningInput): Record<string, string> {
  const [current, previous] = input.secrets;
  if (!current) throw new Error('signedHeaders: no secret');
  const ts = String(input.timestampSeconds);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': input.userAgent,
    'x-webhook-id': input.eventId,
    'x-webhook-event': input.eventType,
    'x-webhook-timestamp': ts,
    // The simple header carries one value, so during a rotation it keeps the old key:
    // the receivers that were not changed yet hold that one.
    'x-webhook-signature': simpleSignatureHex(previous ?? current, input.body),
    'webhook-id': input.eventId,
    'webhook-timestamp': ts,
    'webhook-signature': input.ed25519
      ? ed25519Signature(input.ed25519, input.eventId, input.timestampSeconds, input.body)
      : input.secrets.map((s) => standardSignature(s, input.eventId, input.timestampSeconds, input.body)).join(' '),
  };
  if (previous) headers['x-webhook-signature-next'] = simpleSignatureHex(current, input.body);
  return headers;
}
