/**
 * The security review's findings, each against the running sidecar: secret
 * hints, TRUST_PROXY behind a proxy, bodies that cannot be decoded, caching
 * of pages that hold secrets, and what /healthz tells strangers. SSRF
 * through IPv6 forms that carry IPv4 is in test/delivery/targets.test.ts; the
 * WordPress sign-in's timing in test/wordpress/site.test.ts.
 */
import { expect } from 'chai';
import { gzipSync } from 'node:zlib';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { maskSecret } from '../../src/web/apiPresent.js';
import { useTestDb } from '../support/db.js';
import {
  ADMIN_PASSWORD,
  API_TOKEN,
  spawnSidecar,
  stopChildren,
  testEnv,
  useSidecar,
  type Child,
} from '../support/sidecar.js';
import { Client } from '../support/browserless.js';
import { freePort } from '../support/net.js';
import { waitFor } from '../support/wait.js';

describe('hardening', function () {
  this.timeout(60_000);
  const db = useTestDb('hardening');
  const fx = useSidecar(db);
  const { api } = fx;
  afterEach(() => fx.reset());

  describe('secrets are shown as a short hint', () => {
    it('hides values under 24 characters entirely and shows only whsec_ and the last 4 of longer ones', () => {
      expect(maskSecret('Abcdefghij-KLMNO')).to.equal('********');
      expect(maskSecret('k3y-ABCDEFG')).to.equal('********');
      expect(maskSecret('x'.repeat(23))).to.equal('********');
      expect(maskSecret('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).to.equal('whsec_…LaSw');
      expect(maskSecret('custom-secret-of-30-chars-WXYZ')).to.equal('…WXYZ');
    });

    it('in the API and on the endpoint page', async () => {
      const custom = 'Abcdefghij-KLMNO';
      const ep = await fx.endpoint('https://example.com/hook', ['order.created'], {
        secret: custom,
        auth: { type: 'bearer', token: 'k3y-ABCDEFG' },
      });
      const list = (await api('GET', '/api/endpoints')).body.data as { secret: string; auth: { token: string } }[];
      expect(list[0]!.secret).to.equal('********');
      expect(list[0]!.auth.token).to.equal('********');
      const made = await fx.endpoint('https://example.com/other', ['order.created']);
      expect((await api('GET', `/api/endpoints/${made.id}`)).body.secret).to.equal(`whsec_…${made.secret.slice(-4)}`);
      const c = new Client(fx.sidecar.url);
      expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
      const page = (await c.get(`/admin/endpoints/${ep.id}`)).text;
      expect(page).to.not.contain('Abcdef…').and.not.contain('…LMNO');
    });
  });

  describe('TRUST_PROXY', () => {
    it("takes what express's trust proxy takes, and names a bad value in one line", () => {
      const trust = (v: string) => loadConfig({ TRUST_PROXY: v }).trustProxy;
      expect(trust('true')).to.equal(true);
      expect(trust('false')).to.equal(false);
      expect(trust('')).to.equal(false);
      expect(trust('1')).to.equal(1);
      expect(trust('loopback')).to.equal('loopback');
      expect(trust('loopback, 10.0.0.0/8, 192.168.1.7')).to.equal('loopback,10.0.0.0/8,192.168.1.7');
      for (const bad of ['yes please', '10.0.0.0/99', 'loopback,nope']) {
        let err: unknown;
        try {
          loadConfig({ TRUST_PROXY: bad });
        } catch (e) {
          err = e;
        }
        expect(err, bad).to.be.instanceOf(ConfigError);
        expect((err as ConfigError).variable).to.equal('TRUST_PROXY');
        expect((err as Error).message)
          .to.match(/^TRUST_PROXY must be true, false, a number of proxy hops/)
          .and.not.contain('\n');
      }
    });

    describe('behind a proxy on loopback (TRUST_PROXY=1)', () => {
      const children: Child[] = [];
      let base = '';
      before(async () => {
        const port = await freePort();
        const child = spawnSidecar(testEnv(db.get().url, { PORT: String(port), TRUST_PROXY: '1', LOG_LEVEL: 'info' }));
        children.push(child);
        base = `http://127.0.0.1:${port}`;
        await waitFor('started', () => child.output().includes('sidecar started'), 20_000);
      });
      after(() => stopChildren(children));

      /** A sign-in as a proxy forwards it: the client's address and scheme in X-Forwarded-*. */
      async function signIn(client: string, password: string) {
        const headers = { 'x-forwarded-for': client, 'x-forwarded-proto': 'https' };
        const page = await fetch(`${base}/admin/login`, { headers });
        const cookie = page.headers
          .getSetCookie()
          .map((c) => c.split(';')[0])
          .join('; ');
        const res = await fetch(`${base}/admin/login`, {
          method: 'POST',
          redirect: 'manual',
          headers: { ...headers, cookie, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ _csrf: Client.token(await page.text()), username: '', password }),
        });
        return { status: res.status, cookies: res.headers.getSetCookie() };
      }

      it('marks the session cookie Secure, and throttles each client, not the proxy', async () => {
        await db.get().pool.query('DELETE FROM wp_webhook_login_attempts');
        const ok = await signIn('203.0.113.5', ADMIN_PASSWORD);
        expect(ok.status).to.equal(303);
        const session = ok.cookies.find((c) => c.startsWith('whs_session='));
        expect(session, 'session cookie').to.match(/;\s*Secure/i);
        for (let i = 0; i < 5; i++) expect((await signIn('198.51.100.9', 'wrong password')).status).to.equal(401);
        expect((await signIn('198.51.100.9', ADMIN_PASSWORD)).status, 'the guessing client is locked out').to.equal(
          429,
        );
        expect(
          (await signIn('203.0.113.5', ADMIN_PASSWORD)).status,
          'another client behind the same proxy is not',
        ).to.equal(303);
        await db.get().pool.query('DELETE FROM wp_webhook_login_attempts');
      });
    });
  });

  describe('a body that cannot be decoded', () => {
    /** A POST whose body is not what its Content-Encoding says; `extra` headers (the API token) added. */
    const garbage = (encoding: string, type: string, extra: Record<string, string> = {}) => ({
      method: 'POST',
      headers: { 'content-type': type, 'content-encoding': encoding, ...extra },
      body: 'garbage',
    });
    const withToken = { authorization: `Bearer ${API_TOKEN}` };

    it('answers 400 before sign-in, saying so, not 500', async () => {
      const res = await fetch(`${fx.sidecar.url}/admin/login`, garbage('gzip', 'application/x-www-form-urlencoded'));
      expect(res.status).to.equal(400);
      expect(await res.text()).to.contain('could not be decoded as Content-Encoding gzip');
    });

    it('answers 400 on the API for gzip and br, 415 for an encoding it does not know; a good gzip body still works', async () => {
      for (const enc of ['gzip', 'br']) {
        const res = await fetch(`${fx.sidecar.url}/api/endpoints`, garbage(enc, 'application/json', withToken));
        expect(res.status, enc).to.equal(400);
        const body = (await res.json()) as { error: { code: string; message: string } };
        expect(body.error.code).to.equal('unreadable_body');
        expect(body.error.message).to.contain(`Content-Encoding ${enc}`);
      }
      const zstd = await fetch(`${fx.sidecar.url}/api/endpoints`, garbage('zstd', 'application/json', withToken));
      expect(zstd.status).to.equal(415);
      const good = await fetch(`${fx.sidecar.url}/api/endpoints`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-encoding': 'gzip',
          authorization: `Bearer ${API_TOKEN}`,
        },
        body: gzipSync(JSON.stringify({ url: 'https://example.com/gz', events: ['order.created'], confirm: true })),
      });
      expect(good.status).to.equal(201);
    });
  });

  it('sends Cache-Control: no-store on admin pages and API answers', async () => {
    const ep = await fx.endpoint('https://example.com/hook', ['order.created']);
    const c = new Client(fx.sidecar.url);
    await c.login(ADMIN_PASSWORD);
    const cookie = `whs_session=${c.cookie('whs_session')}`;
    for (const path of ['/admin/login', `/admin/endpoints/${ep.id}`, '/admin']) {
      const res = await fetch(fx.sidecar.url + path, { headers: { cookie }, redirect: 'manual' });
      expect(res.headers.get('cache-control'), path).to.equal('no-store');
    }
    for (const path of [`/api/endpoints/${ep.id}`, '/api/endpoints', '/api/nothing-here']) {
      const res = await fetch(fx.sidecar.url + path, { headers: { authorization: `Bearer ${API_TOKEN}` } });
      expect(res.headers.get('cache-control'), path).to.equal('no-store');
    }
  });

  describe('also', () => {
    it('accepts an internationalised host as its punycode form', async () => {
      const res = await api('POST', '/api/endpoints', {
        url: 'https://bücher.example/hook',
        events: ['order.created'],
        confirm: true,
      });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      expect(res.body.url).to.equal('https://xn--bcher-kva.example/hook');
    });

    it('refuses port 0', async () => {
      const res = await api('POST', '/api/endpoints', {
        url: 'https://example.com:0/hook',
        events: ['order.created'],
        confirm: true,
      });
      expect(res.status).to.equal(400);
      expect(res.body.error.message).to.match(/port 0/);
    });

    it('/healthz tells everyone the status, and the database host only with the API token', async () => {
      const anon = await api('GET', '/healthz', undefined, null);
      expect(anon.status).to.equal(200);
      expect(anon.body).to.deep.equal({ status: 'ok', database: 'up', loop: 'ticking' });
      const wrong = await api('GET', '/healthz', undefined, 'not-the-token-at-all');
      expect(wrong.body).to.not.have.property('database_host');
      const withToken = await api('GET', '/healthz');
      expect(withToken.body.database_host).to.match(/^127\.0\.0\.1:\d+$/);
      expect(withToken.body.last_tick_at).to.be.a('string');
    });
  });
});
