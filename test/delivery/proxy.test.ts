/**
 * The egress proxy against a real forward proxy on loopback (the `proxy`
 * package, a Squid-like CONNECT proxy): deliveries go through it, NO_PROXY
 * hosts go direct, a private target is refused before the proxy is asked
 * anything, and a proxy that refuses says so. NO_PROXY matching as curl reads it.
 */
import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProxy } from 'proxy';
import { insertOutbox, useTestDb } from '../support/db.js';
import { FAST_RETRIES, apiClient, startInProcess, testSecretBox } from '../support/sidecar.js';
import { startReceiver } from '../support/receiver.js';
import { waitFor } from '../support/wait.js';
import { proxyFor, type ProxySettings } from '../../src/delivery/proxy.js';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

async function startProxy(authenticate?: (req: http.IncomingMessage) => boolean) {
  const server = createProxy(http.createServer());
  const connects: string[] = [];
  server.on('connect', (req: http.IncomingMessage) => connects.push(String(req.url)));
  if (authenticate) (server as unknown as { authenticate: typeof authenticate }).authenticate = authenticate;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    connects,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('egress proxy', function () {
  this.timeout(60_000);

  describe('NO_PROXY and the proxy variables', () => {
    const p: ProxySettings = {
      http: 'http://proxy:3128',
      https: 'http://proxy:3128',
      noProxy: ['.internal.example', 'lms.example.com:8443', '10.0.0.0/8', '::1', 'Partner.EXAMPLE'],
    };
    const via = (u: string) => proxyFor(new URL(u), p);

    it('sends through the proxy except to NO_PROXY hosts, domains, ports, addresses and CIDRs', () => {
      expect(via('https://hooks.zapier.com/x')).to.equal('http://proxy:3128');
      expect(via('https://crm.internal.example/x'), 'a subdomain').to.equal(null);
      expect(via('https://internal.example/x'), 'the domain itself').to.equal(null);
      expect(via('https://notinternal.example/x'), 'not a suffix match on the label').to.equal('http://proxy:3128');
      expect(via('https://lms.example.com:8443/x'), 'host and port').to.equal(null);
      expect(via('https://lms.example.com/x'), 'another port').to.equal('http://proxy:3128');
      expect(via('http://10.1.2.3/x'), 'in the CIDR').to.equal(null);
      expect(via('http://11.1.2.3/x')).to.equal('http://proxy:3128');
      expect(via('http://[::1]:8080/x'), 'an IPv6 address').to.equal(null);
      expect(via('https://api.partner.example/x'), 'case-insensitive').to.equal(null);
      expect(proxyFor(new URL('https://any.example/'), { ...p, noProxy: ['*'] })).to.equal(null);
      expect(proxyFor(new URL('http://a.example/'), { ...p, http: null }), 'no HTTP_PROXY: direct').to.equal(null);
    });

    it('reads HTTPS_PROXY, HTTP_PROXY and NO_PROXY (lowercase first) and names a bad one', () => {
      const c = loadConfig({
        HTTPS_PROXY: 'http://upper:3128',
        https_proxy: 'http://user:pw@lower:3128',
        HTTP_PROXY: 'http://plain:3128',
        NO_PROXY: 'localhost, .corp.example',
      });
      expect(c.proxy).to.deep.equal({
        https: 'http://user:pw@lower:3128/',
        http: 'http://plain:3128/',
        noProxy: ['localhost', '.corp.example'],
      });
      expect(() => loadConfig({ HTTPS_PROXY: 'socks5://p:1080' })).to.throw(
        ConfigError,
        /HTTPS_PROXY must be an http:\/\/ or https:\/\/ proxy URL/,
      );
      expect(loadConfig({}).proxy).to.deep.equal({ http: null, https: null, noProxy: [] });
    });
  });

  describe('deliveries through a real proxy', () => {
    const db = useTestDb('proxy');

    it('go through it, NO_PROXY hosts go direct, and a proxy refusing says so', async () => {
      const proxy = await startProxy();
      const receiver = await startReceiver();
      const direct = await startReceiver();
      db.get().beforeDrop(async () => {
        await proxy.close();
        await receiver.close();
        await direct.close();
      });
      const sidecar = await startInProcess(db.get().url, {
        HTTP_PROXY: proxy.url,
        HTTPS_PROXY: proxy.url,
        NO_PROXY: 'localhost',
      });
      try {
        const api = apiClient(sidecar.url);
        await api('PATCH', '/api/settings', FAST_RETRIES);
        const post = (url: string) => api('POST', '/api/endpoints', { url, events: ['order.created'], confirm: true });
        expect((await post(`${receiver.url}/proxied`)).status).to.equal(201);
        const directUrl = `http://localhost:${direct.port}/direct`;
        expect((await post(directUrl)).status).to.equal(201);
        await insertOutbox(db.get().pool, [{ type: 'order.created', payload: { n: 1 } }]);
        await waitFor('both delivered', () => receiver.received.length === 1 && direct.received.length === 1);
        expect(proxy.connects).to.deep.equal([`127.0.0.1:${receiver.port}`]);
      } finally {
        await sidecar.stop();
      }
    });
  });

  describe('SSRF through the proxy', () => {
    const db = useTestDb('proxyssrf');

    it('refuses a private target before any CONNECT; a proxy that refuses is named with its answer', async () => {
      const proxy = await startProxy();
      const strict = await startProxy(() => false);
      const receiver = await startReceiver();
      db.get().beforeDrop(async () => {
        await proxy.close();
        await strict.close();
        await receiver.close();
      });
      // Without ALLOW_PRIVATE_TARGETS: the endpoint's name resolves to loopback (as a rebinding name would
      // after it was saved), so the row is written as it would have been then.
      const sidecar = await startInProcess(db.get().url, {
        ALLOW_PRIVATE_TARGETS: 'false',
        HTTP_PROXY: proxy.url,
      });
      try {
        await apiClient(sidecar.url)('PATCH', '/api/settings', {
          ...FAST_RETRIES,
          retry_schedule_seconds: [],
          confirm: true,
        });
        await db
          .get()
          .pool.query(`INSERT INTO wp_webhook_endpoints (url, events, secret) VALUES (?, '["order.created"]', ?)`, [
            `http://localhost:${receiver.port}/private`,
            testSecretBox().seal('a-secret-of-16-chars'),
          ]);
        await insertOutbox(db.get().pool, [{ type: 'order.created', payload: { n: 2 } }]);
        const api = apiClient(sidecar.url);
        await waitFor('refused', async () => (await api('GET', '/api/deliveries')).body.data[0]?.status === 'failed');
        const d = (await api('GET', '/api/deliveries')).body.data[0];
        const one = (await api('GET', `/api/deliveries/${d.id}`)).body;
        expect(one.attempt_log[0].error_class).to.equal('blocked_target');
        expect(one.attempt_log[0].error_message).to.match(
          new RegExp(
            `localhost resolves to 127\\.0\\.0\\.1 .* not a public address \\(checked before asking the proxy http://127\\.0\\.0\\.1:\\d+\\)`,
          ),
        );
        expect(proxy.connects, 'the proxy was never asked').to.deep.equal([]);
        expect(receiver.received).to.have.length(0);
      } finally {
        await sidecar.stop();
      }

      // A proxy that wants credentials it did not get: the attempt names the proxy and its answer.
      const second = await startInProcess(db.get().url, { HTTP_PROXY: strict.url });
      try {
        const api = apiClient(second.url);
        await api('DELETE', `/api/endpoints/1`);
        const ep = await api('POST', '/api/endpoints', {
          url: `${receiver.url}/behind-strict-proxy`,
          events: ['order.refunded'],
          confirm: true,
        });
        expect(ep.status).to.equal(201);
        await insertOutbox(db.get().pool, [{ type: 'order.refunded', payload: { n: 3 } }]);
        await waitFor(
          'refused by the proxy',
          async () => (await api('GET', '/api/deliveries?event_type=order.refunded')).body.data[0]?.status === 'failed',
        );
        const d = (await api('GET', '/api/deliveries?event_type=order.refunded')).body.data[0];
        const one = (await api('GET', `/api/deliveries/${d.id}`)).body;
        expect(one.attempt_log[0].error_message).to.match(
          /^the proxy http:\/\/127\.0\.0\.1:\d+ refused to connect \(HTTP 407 to CONNECT: it wants credentials/,
        );
        expect(receiver.received).to.have.length(0);
      } finally {
        await second.stop();
      }
    });
  });
});
