/**
 * Secrets at rest: endpoint signing secrets, auth credentials and private keys
 * are stored sealed with AES-256-GCM under a key that is not in the database
 * (SECRETS_KEY, SECRETS_KEY_FILE, or one derived from the site's WordPress
 * salts), so a dump or a read-only SQL account holds no key to sign as the site.
 *
 * A sealed value reads `enc:v1:<key id>:<base64 of nonce | ciphertext | tag>`.
 * The key id (8 hex characters of an HMAC of the key, not reversible) says
 * which key sealed it, so a start with another key stops with one line instead
 * of failing every delivery, and a rotation knows what is left to re-seal.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

const PREFIX = 'enc:v1:';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** What the key was derived from, for messages: never the key itself. */
export type KeySource = 'SECRETS_KEY' | 'SECRETS_KEY_FILE' | 'SECRETS_KEY_PREVIOUS' | 'WP_CONFIG salts';

export interface SecretKey {
  readonly id: string;
  readonly source: KeySource;
  readonly key: Buffer;
}

/** The WordPress constants a key is derived from when no SECRETS_KEY is set, in this order. */
export const WP_SALT_NAMES = [
  'AUTH_KEY',
  'SECURE_AUTH_KEY',
  'LOGGED_IN_KEY',
  'NONCE_KEY',
  'AUTH_SALT',
  'SECURE_AUTH_SALT',
  'LOGGED_IN_SALT',
  'NONCE_SALT',
] as const;

/** What wp-config-sample.php ships with: not a secret. */
export const WP_SALT_PLACEHOLDER = 'put your unique phrase here';

function keyOf(material: Buffer, salt: string, source: KeySource): SecretKey {
  const key = Buffer.from(hkdfSync('sha256', material, salt, 'lms-webhooks secrets v1', 32));
  const id = createHmac('sha256', key).update('key id').digest('hex').slice(0, 8);
  return { id, source, key };
}

/** A key from an operator's string (at least 32 characters, checked by config): HKDF-SHA256 of it. */
export function keyFromString(value: string, source: KeySource): SecretKey {
  return keyOf(Buffer.from(value, 'utf8'), 'lms-webhooks SECRETS_KEY', source);
}

/** A key from the WordPress salts that are defined (names in WP_SALT_NAMES order, each with its value). */
export function keyFromSalts(salts: ReadonlyArray<readonly [string, string]>): SecretKey {
  return keyOf(Buffer.from(JSON.stringify(salts), 'utf8'), 'lms-webhooks WordPress salts', 'WP_CONFIG salts');
}

export function isSealed(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

/** The id of the key that sealed this value, or null when it is not sealed. */
export function sealedKeyId(stored: string): string | null {
  if (!isSealed(stored)) return null;
  return stored.slice(PREFIX.length, PREFIX.length + 8);
}

/** A value that cannot be opened with the keys given. */
export class SecretKeyError extends Error {
  override name = 'SecretKeyError';
}

export interface SecretBox {
  /** The key new values are sealed with. */
  readonly current: SecretKey;
  seal(plain: string): string;
  /** The plain value; throws SecretKeyError when no key given opens it. A plain (not yet sealed) value is returned as is. */
  open(stored: string): string;
  /** True when the value is sealed with the current key (nothing to re-seal). */
  isCurrent(stored: string): boolean;
  /** HMAC-SHA256 of a value under the current key: recognises a value again without storing it (or a plain hash of it). */
  digest(purpose: string, value: string): Buffer;
}

/** Values opened so far, by their sealed form: the claim path opens the same few secrets over and over. */
const OPENED_CACHE_SIZE = 4096;

export function createSecretBox(current: SecretKey, previous: readonly SecretKey[] = []): SecretBox {
  const byId = new Map<string, SecretKey>();
  for (const k of [...previous, current]) byId.set(k.id, k);
  const opened = new Map<string, string>();
  return {
    current,
    seal(plain) {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current.key, nonce);
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return PREFIX + current.id + ':' + Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64');
    },
    open(stored) {
      if (!isSealed(stored)) return stored;
      const hit = opened.get(stored);
      if (hit !== undefined) return hit;
      const id = sealedKeyId(stored)!;
      const k = byId.get(id);
      if (!k) throw new SecretKeyError(`a secret was sealed with key ${id}, which is not one of the keys given`);
      const raw = Buffer.from(stored.slice(PREFIX.length + 9), 'base64');
      if (raw.length < NONCE_BYTES + TAG_BYTES) throw new SecretKeyError(`a secret sealed with key ${id} is truncated`);
      const decipher = createDecipheriv('aes-256-gcm', k.key, raw.subarray(0, NONCE_BYTES));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      let plain: string;
      try {
        plain = Buffer.concat([
          decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)),
          decipher.final(),
        ]).toString('utf8');
      } catch {
        throw new SecretKeyError(`a secret sealed with key ${id} does not open: it was changed in the database`);
      }
      if (opened.size >= OPENED_CACHE_SIZE) opened.clear();
      opened.set(stored, plain);
      return plain;
    },
    isCurrent: (stored) => sealedKeyId(stored) === current.id,
    digest: (purpose, value) => createHmac('sha256', current.key).update(purpose).update('\0').update(value).digest(),
  };
}
