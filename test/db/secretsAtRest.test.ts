/**
 * Secrets at rest against the real database: a mysqldump after creating every
 * kind of secret holds none of them (nor their base64/hex forms) while
 * deliveries still verify; plain values from before are sealed at start; a
 * wrong or missing key stops the start with one line; a key rotation
 * interrupted midway loses nothing and finishes when run again.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { RowDataPacket } from 'mysql2/promise';
import { insertOutbox, migratedPool, mysqldump, useTestDb } from '../support/db.js';
import {
  SECRETS_KEY,
  apiClient,
  spawnSidecar,
  startInProcess,
  testEnv,
  testSecretBox,
  useSidecar,
} from '../support/sidecar.js';
import { startReceiver } from '../support/receiver.js';
import { waitFor } from '../support/wait.js';
import { verifyWebhook } from '../../src/verify.js';
import { createSecretBox, keyFromSalts, keyFromString, sealedKeyId, WP_SALT_NAMES } from '../../src/secrets.js';
import { randomSalts, writeWpConfig } from '../support/wordpress.js';
import { sealSecrets } from '../../src/manage/secretOps.js';
import type { Queryable } from '../../src/db/sql.js';

const CLI = fileURLToPath(new URL('../../src/manage/secretsCli.js', import.meta.url));
const NEW_KEY = 'the-new-secrets-key-after-rotation-0123456789';

/** A secret as it could sit in a dump: itself, base64 (both alphabets), hex, and the key bytes of a whsec_ secret. */
function forms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const out = [secret, bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('hex')];
  if (secret.startsWith('whsec_')) {
    const key = Buffer.from(secret.slice(6), 'base64');
    out.push(key.toString('hex'), key.toString('base64url'));
  }
  // A dump escapes some characters; a form without padding still matches as a prefix.
  return out.map((f) => f.replace(/=+$/, '')).filter((f) => f.length >= 8);
}

describe('secrets at rest', function () {
  this.timeout(90_000);

  describe('a database dump', () => {
    const db = useTestDb('dumpgrep');
    const fx = useSidecar(db);
    const { api } = fx;

    it('holds no endpoint secret, previous secret, Basic or Bearer credential or Ed25519 private key, and deliveries still verify', async () => {
      const receiver = await fx.receiver();
      const hmac = await fx.endpoint(`${receiver.url}/hmac`, ['order.created']);
      const typed = await fx.endpoint(`${receiver.url}/typed`, ['order.created'], {
        secret: 'my-own-typed-secret-Zq8!xP',
        auth: { type: 'basic', username: 'zapier-user', password: 'Basic-Pa55word-for-receiver' },
      });
      const bearer = await fx.endpoint(`${receiver.url}/bearer`, ['order.created'], {
        auth: { type: 'bearer', token: 'bearer-token-6f1d2c9e8a7b' },
      });
      const ed = await fx.endpoint(`${receiver.url}/ed`, ['order.created'], { signing: 'ed25519' });
      // A rotation with a grace period keeps the previous secret stored too.
      const rotated = await api('POST', `/api/endpoints/${hmac.id}/rotate-secret`, { grace_hours: 24 });
      expect(rotated.status).to.equal(200);
      const current = rotated.body.secret as string;
      const edShown = (await api('GET', `/api/endpoints/${ed.id}`)).body;

      await insertOutbox(db.get().pool, [{ type: 'order.created', payload: { order_id: 'o_1' } }]);
      await waitFor('four deliveries', () => receiver.received.length === 4);
      const at = (p: string) => receiver.received.find((r) => r.path === p)!;
      expect(verifyWebhook(current, at('/hmac').raw, at('/hmac').headers).id).to.be.a('string');
      // During the grace period X-Webhook-Signature still uses the previous secret: both open from the store.
      expect(at('/hmac').headers['x-webhook-signature-next']).to.match(/^[0-9a-f]{64}$/);
      expect(verifyWebhook(typed.secret, at('/typed').raw, at('/typed').headers).id).to.be.a('string');
      expect(at('/typed').headers.authorization).to.equal(
        'Basic ' + Buffer.from('zapier-user:Basic-Pa55word-for-receiver').toString('base64'),
      );
      expect(at('/bearer').headers.authorization).to.equal('Bearer bearer-token-6f1d2c9e8a7b');
      const [scheme, sig] = String(at('/ed').headers['webhook-signature']).split(',');
      expect(scheme).to.equal('v1a');
      const pub = createPublicKey({
        key: {
          kty: 'OKP',
          crv: 'Ed25519',
          x: Buffer.from(edShown.public_key.slice(5), 'base64').toString('base64url'),
        },
        format: 'jwk',
      });
      const signed = Buffer.from(
        `${String(at('/ed').headers['webhook-id'])}.${String(at('/ed').headers['webhook-timestamp'])}.`,
      );
      expect(verify(null, Buffer.concat([signed, at('/ed').raw]), pub, Buffer.from(sig!, 'base64'))).to.equal(true);

      // What the rows hold, opened with the sidecar's key: the private key and the previous secret are never shown by the API.
      const [[row]] = await db
        .get()
        .pool.query<RowDataPacket[]>('SELECT previous_secret FROM wp_webhook_endpoints WHERE id = ?', [hmac.id]);
      const [[edRow]] = await db
        .get()
        .pool.query<RowDataPacket[]>('SELECT signing_key FROM wp_webhook_endpoints WHERE id = ?', [ed.id]);
      const box = testSecretBox();
      const previous = box.open(String(row!.previous_secret));
      const privateKey = box.open(String(edRow!.signing_key));
      expect(previous).to.equal(hmac.secret);
      const secrets = [
        hmac.secret,
        current,
        typed.secret,
        bearer.secret,
        ed.secret,
        'Basic-Pa55word-for-receiver',
        'zapier-user:Basic-Pa55word-for-receiver',
        'bearer-token-6f1d2c9e8a7b',
        privateKey,
        // The raw 32-byte Ed25519 seed at the end of the PKCS#8 key.
        Buffer.from(privateKey, 'base64').subarray(-32).toString('base64'),
        Buffer.from(privateKey, 'base64').subarray(-32).toString('hex'),
      ];

      const dump = await mysqldump(db.get().url);
      expect(dump, 'the dump has the endpoints').to.include('INSERT INTO `wp_webhook_endpoints`');
      expect(dump.match(/'enc:v1:[0-9a-f]{8}:/g)?.length, 'sealed values in the dump').to.be.at.least(8);
      const found = secrets.flatMap((s) =>
        forms(s)
          .filter((f) => dump.includes(f))
          .map((f) => `${s.slice(0, 6)}…: ${f}`),
      );
      expect(found, 'secrets found in the dump').to.deep.equal([]);
    });
  });

  describe('with WP_CONFIG and no SECRETS_KEY', () => {
    const db = useTestDb('saltkey');

    it("seals with a key derived from the site's WordPress salts", async () => {
      const salts = randomSalts();
      const u = new URL(db.get().url);
      const file = writeWpConfig({
        dbName: db.get().name,
        dbUser: decodeURIComponent(u.username),
        dbPassword: decodeURIComponent(u.password),
        dbHost: `${u.hostname}:${u.port || '3306'}`,
        prefix: 'wp_',
        salts,
      });
      const sidecar = await startInProcess(db.get().url, { SECRETS_KEY: '', WP_CONFIG: file });
      try {
        const created = await apiClient(sidecar.url)('POST', '/api/endpoints', {
          url: 'https://example.com/hook',
          events: ['order.created'],
        });
        expect(created.status).to.equal(201);
        const [[row]] = await db.get().pool.query<RowDataPacket[]>('SELECT secret FROM wp_webhook_endpoints');
        const saltsKey = keyFromSalts(WP_SALT_NAMES.map((n) => [n, salts[n]!] as const));
        expect(sealedKeyId(String(row!.secret))).to.equal(saltsKey.id);
        expect(createSecretBox(saltsKey).open(String(row!.secret))).to.equal(created.body.secret);
      } finally {
        await sidecar.stop();
      }
    });
  });

  describe('the key', () => {
    const db = useTestDb('sealkey');

    it('seals plain values from before at start, refuses a wrong or missing key with one line, and a rotation survives an interruption', async () => {
      const { pool, t } = await migratedPool(db.get().url);
      const receiver = await startReceiver();
      db.get().beforeDrop(async () => {
        await receiver.close();
        await pool.end().catch(() => {});
      });
      // As an earlier version stored them: plain text.
      const plainSecret = 'whsec_' + Buffer.from('plain-secret-from-v2-0123').toString('base64');
      await pool.query(`INSERT INTO ${t.endpoints} (url, events, secret, auth) VALUES (?, '["order.created"]', ?, ?)`, [
        `${receiver.url}/v2`,
        plainSecret,
        JSON.stringify({ type: 'bearer', token: 'v2-bearer-token-xyz' }),
      ]);
      for (let i = 0; i < 40; i++)
        await pool.query(`INSERT INTO ${t.endpoints} (url, events, secret, enabled) VALUES (?, '["none.*"]', ?, 0)`, [
          `${receiver.url}/n${i}`,
          `plain-secret-number-${i}-abcdef`,
        ]);
      const stored = async () =>
        (await pool.query<RowDataPacket[]>(`SELECT id, secret, auth FROM ${t.endpoints} ORDER BY id`))[0];

      /** The n-th event reaches the receiver signed with the secret stored in plain text before, and with its bearer token. */
      const deliversSigned = async (n: number) => {
        await insertOutbox(db.get().pool, [{ type: 'order.created', payload: { n } }]);
        await waitFor(`event ${n} delivered`, () => receiver.received.length === n);
        const r = receiver.received[n - 1]!;
        expect(verifyWebhook(plainSecret, r.raw, r.headers).data).to.deep.equal({ n });
        expect(r.headers.authorization).to.equal('Bearer v2-bearer-token-xyz');
      };
      const oldKey = keyFromString(SECRETS_KEY, 'SECRETS_KEY');
      const sidecar = await startInProcess(db.get().url);
      try {
        const rows = await stored();
        expect(rows.every((r) => sealedKeyId(String(r.secret)) === oldKey.id)).to.equal(true);
        expect(sealedKeyId(String(rows[0]!.auth))).to.equal(oldKey.id);
        await deliversSigned(1);
      } finally {
        await sidecar.stop();
      }

      // A wrong key, and no key at all: one line each, naming the variable, no start.
      for (const [env, line] of [
        [
          { SECRETS_KEY: NEW_KEY },
          /^Configuration error: 42 endpoint secrets in wp_webhook_endpoints cannot be opened with the key in use \(key [0-9a-f]{8} from SECRETS_KEY; sealed with key [0-9a-f]{8}\)/,
        ],
        [{ SECRETS_KEY: '' }, /^Configuration error: SECRETS_KEY is not set: secrets are stored encrypted with it/],
      ] as const) {
        const child = spawnSidecar(testEnv(db.get().url, env));
        expect(await child.exited, 'the configuration exit code').to.equal(78);
        const lines = child.output().trim().split('\n');
        expect(lines, child.output()).to.have.length(1);
        expect(lines[0]).to.match(line);
      }

      // Rotation, interrupted: the connection fails after 15 row writes, as a killed process would stop.
      const newBox = createSecretBox(keyFromString(NEW_KEY, 'SECRETS_KEY'), [oldKey]);
      let writes = 0;
      const failing = {
        query: (sql: string, params?: unknown[]) => {
          if (/^\s*UPDATE/.test(sql) && ++writes > 15) return Promise.reject(new Error('connection lost'));
          return pool.query(sql, params);
        },
      } as unknown as Queryable;
      let interrupted: unknown = null;
      await sealSecrets(failing, t, newBox).catch((err: unknown) => (interrupted = err));
      expect(String(interrupted)).to.include('connection lost');
      const midway = await stored();
      const byKey = (rs: RowDataPacket[]) =>
        rs.reduce<Record<string, number>>((m, r) => {
          const k = sealedKeyId(String(r.secret)) === oldKey.id ? 'old' : 'new';
          m[k] = (m[k] ?? 0) + 1;
          return m;
        }, {});
      expect(byKey(midway)).to.deep.equal({ new: 15, old: 26 });
      // Every value, either key, still opens to what it was.
      expect(newBox.open(String(midway[0]!.secret))).to.equal(plainSecret);
      expect(newBox.open(String(midway[40]!.secret))).to.equal('plain-secret-number-39-abcdef');

      // The command run again finishes the job; the new key alone then starts and delivers.
      const cli = (args: string[], env: Record<string, string>) =>
        spawnSync(process.execPath, [CLI, ...args], {
          env: { PATH: process.env.PATH ?? '', DATABASE_URL: db.get().url, ...env },
          encoding: 'utf8',
        });
      const status = cli(['status'], { SECRETS_KEY: NEW_KEY, SECRETS_KEY_PREVIOUS: SECRETS_KEY });
      expect(status.status, status.stderr).to.equal(0);
      expect(status.stdout).to.match(new RegExp(`\\s16 sealed with key ${newBox.current.id}`));
      expect(status.stdout).to.match(new RegExp(`\\s26 sealed with key ${oldKey.id}`));
      const rotate = cli(['rotate'], { SECRETS_KEY: NEW_KEY, SECRETS_KEY_PREVIOUS: SECRETS_KEY });
      expect(rotate.status, rotate.stderr + rotate.stdout).to.equal(0);
      expect(rotate.stdout).to.include(`sealed 0 plain and re-sealed 26 secrets with key ${newBox.current.id}`);
      expect(byKey(await stored())).to.deep.equal({ new: 41 });

      const after = await startInProcess(db.get().url, { SECRETS_KEY: NEW_KEY });
      try {
        await deliversSigned(2);
      } finally {
        await after.stop();
      }
    });
  });
});
