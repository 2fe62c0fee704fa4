/**
 * Secrets at rest, the pieces: sealing and opening, key ids, and where the
 * key comes from (SECRETS_KEY, SECRETS_KEY_FILE, WordPress salts).
 */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { createSecretBox, keyFromString, SecretKeyError, sealedKeyId, WP_SALT_PLACEHOLDER } from '../src/secrets.js';

const A = 'first-key-0123456789abcdef0123456789abcdef';
const B = 'second-key-0123456789abcdef0123456789abcdef';

function wpConfig(salts: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'whtest-salts-'));
  const file = path.join(dir, 'wp-config.php');
  const defines = Object.entries(salts)
    .map(([k, v]) => `define( '${k}', ${v.startsWith('getenv') ? v : `'${v}'`} );`)
    .join('\n');
  writeFileSync(
    file,
    `<?php\ndefine( 'DB_NAME', 'lms' );\ndefine( 'DB_USER', 'lms' );\ndefine( 'DB_PASSWORD', 'pw' );\ndefine( 'DB_HOST', '127.0.0.1' );\n${defines}\n$table_prefix = 'wp_';\n`,
  );
  return file;
}
const unique = (n: number) => `${'x'.repeat(40)}-${n}-unique-phrase`;

describe('secrets at rest: the box', () => {
  const a = keyFromString(A, 'SECRETS_KEY');
  const b = keyFromString(B, 'SECRETS_KEY');

  it('seals with AES-256-GCM under a fresh nonce each time, naming the key, and opens what it sealed', () => {
    const box = createSecretBox(a);
    const one = box.seal('whsec_c2VjcmV0');
    const two = box.seal('whsec_c2VjcmV0');
    expect(one).to.match(/^enc:v1:[0-9a-f]{8}:[A-Za-z0-9+/=]+$/);
    expect(one, 'a fresh nonce').to.not.equal(two);
    expect(sealedKeyId(one)).to.equal(a.id);
    expect(one).to.not.include('c2VjcmV0');
    expect(box.open(one)).to.equal('whsec_c2VjcmV0');
    expect(box.open(two)).to.equal('whsec_c2VjcmV0');
    expect(box.isCurrent(one)).to.equal(true);
    expect(box.open('plain-from-before'), 'a value not sealed yet reads as it is').to.equal('plain-from-before');
  });

  it('refuses another key and a changed value; a previous key opens but does not seal', () => {
    const sealedA = createSecretBox(a).seal('p@ss');
    expect(a.id).to.not.equal(b.id);
    expect(() => createSecretBox(b).open(sealedA)).to.throw(
      SecretKeyError,
      /sealed with key .* not one of the keys given/,
    );
    const raw = Buffer.from(sealedA.slice(16), 'base64');
    raw[raw.length - 20]! ^= 1;
    const changed = sealedA.slice(0, 16) + raw.toString('base64');
    expect(() => createSecretBox(a).open(changed)).to.throw(SecretKeyError, /changed in the database/);
    const rotating = createSecretBox(b, [a]);
    expect(rotating.open(sealedA)).to.equal('p@ss');
    expect(rotating.isCurrent(sealedA)).to.equal(false);
    expect(sealedKeyId(rotating.seal('p@ss'))).to.equal(b.id);
  });
});

describe('secrets at rest: the key', () => {
  it('comes from SECRETS_KEY or SECRETS_KEY_FILE (the same string gives the same key), never both', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'whtest-key-'));
    writeFileSync(path.join(dir, 'key'), A + '\n');
    const fromEnv = loadConfig({ SECRETS_KEY: A }).secrets;
    const fromFile = loadConfig({ SECRETS_KEY_FILE: path.join(dir, 'key') }).secrets;
    expect(fromEnv.current?.id).to.equal(fromFile.current?.id);
    expect(fromFile.current?.source).to.equal('SECRETS_KEY_FILE');
    expect(() => loadConfig({ SECRETS_KEY: A, SECRETS_KEY_FILE: path.join(dir, 'key') })).to.throw(
      ConfigError,
      /SECRETS_KEY and SECRETS_KEY_FILE are both set/,
    );
    expect(() => loadConfig({ SECRETS_KEY: 'short' })).to.throw(
      ConfigError,
      /SECRETS_KEY must be a random string of at least 32 characters/,
    );
    expect(() => loadConfig({ SECRETS_KEY_FILE: path.join(dir, 'nope') })).to.throw(
      ConfigError,
      /SECRETS_KEY_FILE .* cannot be read/,
    );
  });

  it('is missing, with a line saying what to set, when there is neither SECRETS_KEY nor WP_CONFIG', () => {
    const s = loadConfig({}).secrets;
    expect(s.current).to.equal(null);
    expect(s.missing?.variable).to.equal('SECRETS_KEY');
    expect(s.missing?.message).to.match(/SECRETS_KEY is not set.*openssl rand -base64 32.*WP_CONFIG/);
  });

  it("is derived from WP_CONFIG's unique salts when no SECRETS_KEY is set; placeholder or computed salts give none", () => {
    const salts = { AUTH_KEY: unique(1), SECURE_AUTH_KEY: unique(2), LOGGED_IN_KEY: unique(3), NONCE_SALT: unique(4) };
    const derived = loadConfig({ WP_CONFIG: wpConfig(salts) }).secrets;
    expect(derived.current?.source).to.equal('WP_CONFIG salts');
    expect(loadConfig({ WP_CONFIG: wpConfig(salts) }).secrets.current?.id, 'the same salts, the same key').to.equal(
      derived.current?.id,
    );
    const other = loadConfig({ WP_CONFIG: wpConfig({ ...salts, NONCE_SALT: unique(5) }) }).secrets;
    expect(other.current?.id).to.not.equal(derived.current?.id);

    const placeholder = loadConfig({
      WP_CONFIG: wpConfig({ AUTH_KEY: WP_SALT_PLACEHOLDER, SECURE_AUTH_KEY: WP_SALT_PLACEHOLDER }),
    }).secrets;
    expect(placeholder.current).to.equal(null);
    expect(placeholder.missing?.message).to.match(/no unique AUTH_KEY and SECURE_AUTH_KEY.*set SECRETS_KEY/);
    const computed = loadConfig({
      WP_CONFIG: wpConfig({ AUTH_KEY: "getenv('WP_AUTH_KEY')", SECURE_AUTH_KEY: unique(2) }),
    }).secrets;
    expect(computed.current).to.equal(null);
    expect(computed.missing?.message).to.match(/AUTH_KEY in .* is not a plain quoted string/);
    expect(computed.missing?.message).to.not.include('WP_AUTH_KEY');
  });

  it('keeps the salts key and SECRETS_KEY_PREVIOUS for opening only, so what they sealed is re-sealed with SECRETS_KEY', () => {
    const file = wpConfig({ AUTH_KEY: unique(1), SECURE_AUTH_KEY: unique(2) });
    const saltsKey = loadConfig({ WP_CONFIG: file }).secrets.current!;
    const s = loadConfig({ WP_CONFIG: file, SECRETS_KEY: A, SECRETS_KEY_PREVIOUS: B }).secrets;
    expect(s.current?.source).to.equal('SECRETS_KEY');
    expect(s.previous.map((k) => k.id)).to.have.members([saltsKey.id, keyFromString(B, 'SECRETS_KEY').id]);
  });
});
