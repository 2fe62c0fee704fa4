/**
 * Mutual TLS per endpoint against a real HTTPS receiver that requires a
 * client certificate (certificates made with openssl for the run): the right
 * certificate gets through; none, a wrong one, or an untrusted receiver fail
 * with a TLS reason an operator can act on. The key is stored sealed and
 * never shown back.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { insertOutbox, useTestDb } from '../support/db.js';
import { ADMIN_PASSWORD, useSidecar } from '../support/sidecar.js';
import { SCREENS, useAdminPage } from '../support/browser.js';
import { waitFor } from '../support/wait.js';

/** A CA, a receiver certificate for 127.0.0.1, a client certificate it signed, and one another CA signed. */
function makeCertificates() {
  const dir = mkdtempSync(path.join(tmpdir(), 'whtest-mtls-'));
  const f = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const key = (name: string) =>
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f(name));
  const ca = (name: string, cn: string) => {
    key(`${name}.key`);
    openssl(
      'req',
      '-x509',
      '-new',
      '-key',
      f(`${name}.key`),
      '-out',
      f(`${name}.crt`),
      '-days',
      '2',
      '-subj',
      `/CN=${cn}`,
    );
  };
  const signed = (name: string, cn: string, by: string, ext: string) => {
    key(`${name}.key`);
    openssl('req', '-new', '-key', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
    writeFileSync(f(`${name}.ext`), ext);
    openssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f(`${by}.crt`),
      '-CAkey',
      f(`${by}.key`),
      '-CAcreateserial',
      '-out',
      f(`${name}.crt`),
      '-days',
      '2',
      '-extfile',
      f(`${name}.ext`),
    );
  };
  ca('ca', 'Test Campus CA');
  ca('other', 'Somebody Else CA');
  signed('server', '127.0.0.1', 'ca', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  signed('client', 'lms-sidecar', 'ca', 'extendedKeyUsage=clientAuth\n');
  signed('stranger', 'lms-sidecar', 'other', 'extendedKeyUsage=clientAuth\n');
  const read = (name: string) => readFileSync(f(name), 'utf8');
  return {
    ca: read('ca.crt'),
    server: { cert: read('server.crt'), key: read('server.key') },
    client: { cert: read('client.crt'), key: read('client.key') },
    stranger: { cert: read('stranger.crt'), key: read('stranger.key') },
  };
}

describe('mutual TLS per endpoint', function () {
  this.timeout(60_000);
  const db = useTestDb('mtls');
  const fx = useSidecar(db);
  const { api } = fx;
  const certs = makeCertificates();
  const seen: { path: string; cn: string | undefined }[] = [];
  let server: https.Server;
  let base: string;

  before(async () => {
    await api('PATCH', '/api/settings', { retry_schedule_seconds: [], confirm: true, timeout_seconds: 5 });
    server = https.createServer(
      { ...certs.server, ca: certs.ca, requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        seen.push({ path: req.url ?? '', cn: peer?.subject?.CN as string | undefined });
        req.resume();
        req.on('end', () => res.writeHead(200).end('ok'));
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    db.get().beforeDrop(
      () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    );
  });

  it('sends with the right certificate; none, a wrong one, or an untrusted receiver fail with a TLS reason to act on', async () => {
    const right = await fx.endpoint(`${base}/right`, ['order.created'], {
      tls: { client_cert: certs.client.cert, client_key: certs.client.key, ca: certs.ca },
    });
    await fx.endpoint(`${base}/none`, ['order.created'], { tls: { ca: certs.ca } });
    await fx.endpoint(`${base}/wrong`, ['order.created'], {
      tls: { client_cert: certs.stranger.cert, client_key: certs.stranger.key, ca: certs.ca },
    });
    await fx.endpoint(`${base}/untrusted`, ['order.created']);
    await insertOutbox(db.get().pool, [{ type: 'order.created', payload: { order_id: 'o_1' } }]);

    const finished = async () =>
      ((await api('GET', '/api/deliveries')).body.data as { status: string }[]).filter((d) =>
        ['succeeded', 'failed'].includes(d.status),
      ).length === 4;
    await waitFor('four outcomes', finished);
    expect(seen).to.deep.equal([{ path: '/right', cn: 'lms-sidecar' }]);

    const errorOf = async (suffix: string) => {
      const eps = (await api('GET', '/api/endpoints')).body.data as { id: number; url: string }[];
      const ep = eps.find((e) => e.url.endsWith(suffix))!;
      const d = (await api('GET', `/api/deliveries?endpoint_id=${ep.id}`)).body.data[0];
      const one = (await api('GET', `/api/deliveries/${d.id}`)).body;
      return { status: d.status, cls: one.attempt_log[0].error_class, msg: String(one.attempt_log[0].error_message) };
    };
    expect((await errorOf('/right')).status).to.equal('succeeded');
    const none = await errorOf('/none');
    expect(none.cls, none.msg).to.equal('tls');
    // TLS 1.3 refuses a client after the handshake: its alert, or the reset that often beats it, says so.
    expect(none.msg).to.match(
      /^TLS: the receiver (asks for a client certificate and none was accepted|closed the connection right after the handshake without answering: it may require a client certificate)/,
    );
    const wrong = await errorOf('/wrong');
    expect(wrong.cls, wrong.msg).to.equal('tls');
    expect(wrong.msg).to.match(/^TLS: the receiver refused the client certificate/);
    const untrusted = await errorOf('/untrusted');
    expect(untrusted.cls).to.equal('tls');
    expect(untrusted.msg).to.match(
      /^TLS: the receiver's certificate is not signed by a CA the sidecar trusts: set the endpoint's CA/,
    );

    // Read back: what the certificate is and when it expires; the key never.
    const shown = (await api('GET', `/api/endpoints/${right.id}`)).body.tls;
    expect(shown.client_cert).to.match(
      /^CN=lms-sidecar \(issued by CN=Test Campus CA, expires \d{4}-\d\d-\d\d, SHA-256 [0-9A-F:]+…\)$/,
    );
    expect(shown.client_key).to.equal('********');
    expect(shown.ca).to.match(/^CN=Test Campus CA/);
    const [[row]] = await db
      .get()
      .pool.query<RowDataPacket[]>('SELECT tls FROM wp_webhook_endpoints WHERE id = ?', [right.id]);
    expect(String(row!.tls)).to.match(/^enc:v1:/);
    const keyBody = certs.client.key.split('\n')[1]!;
    expect(String(row!.tls)).to.not.include(keyBody);
  });

  it("refuses a key that is not the certificate's, a PEM that is not one, and a key without its certificate, naming the field", async () => {
    const post = (tls: unknown) =>
      api('POST', '/api/endpoints', { url: `${base}/x`, events: ['order.created'], confirm: true, tls });
    const mismatched = await post({ client_cert: certs.client.cert, client_key: certs.stranger.key });
    expect(mismatched.status).to.equal(400);
    expect(mismatched.body.error.message).to.equal('tls.client_key is not the key of client_cert');
    const garbage = await post({ client_cert: 'not a certificate', client_key: certs.client.key });
    expect(garbage.body.error.message).to.match(/^tls.client_cert is not a PEM certificate/);
    const keyOnly = await post({ client_key: certs.client.key });
    expect(keyOnly.status).to.equal(400);
    expect(keyOnly.body.error.message).to.match(/client_key.*client_cert|client_cert.*client_key/);
    expect(JSON.stringify([mismatched.body, garbage.body, keyOnly.body])).to.not.include(
      certs.client.key.split('\n')[1]!,
    );
  });

  describe('on the endpoint page', () => {
    const ui = useAdminPage(() => fx.sidecar.url, ADMIN_PASSWORD);

    it('takes the certificate, key and CA as PEM, describes them once saved, keeps them when left empty, and removes them', async () => {
      const { page } = ui;
      await ui.signIn();
      await page.goto(`${fx.sidecar.url}/admin/endpoints/new`);
      await page.fill('#url', `${base}/from-the-form`);
      await page.check('input[name=events][value="order.created"]');
      await page.fill('#tls_client_cert', certs.client.cert);
      await page.fill('#tls_client_key', certs.stranger.key);
      await page.click('button:has-text("Add endpoint")');
      expect(await page.textContent('#tls-error')).to.match(
        /Client certificate.*client_key is not the key of client_cert/,
      );
      expect(await page.inputValue('#tls_client_key'), 'a key typed is never sent back').to.equal('');
      await page.fill('#tls_client_cert', certs.client.cert);
      await page.fill('#tls_client_key', certs.client.key);
      await page.fill('#tls_ca', certs.ca);
      await page.click('button:has-text("Add endpoint")');
      await page.waitForURL(/\/admin\/endpoints\/\d+\?notice=endpoint-created/);
      const id = Number(/endpoints\/(\d+)/.exec(page.url())![1]);
      const edit = `${fx.sidecar.url}/admin/endpoints/${id}`;
      await page.goto(edit);
      expect(await page.textContent('#tls-saved')).to.match(
        /^Saved: CN=lms-sidecar \(issued by CN=Test Campus CA.*; the receiver is checked against the CA CN=Test Campus CA/,
      );
      expect(await page.content()).to.not.include(certs.client.key.split('\n')[1]!);
      await page
        .locator('div.field', { has: page.locator('#tls_client_cert') })
        .screenshot({ path: `${SCREENS}/31-endpoint-client-certificate.png` });
      // Saved again with the boxes empty: kept.
      await page.click('button:has-text("Save endpoint")');
      await page.waitForURL(/notice=endpoint-saved/);
      expect((await api('GET', `/api/endpoints/${id}`)).body.tls.client_key).to.equal('********');
      await page.goto(edit);
      await page.check('#tls_remove');
      await page.click('button:has-text("Save endpoint")');
      await page.waitForURL(/notice=endpoint-saved/);
      expect((await api('GET', `/api/endpoints/${id}`)).body.tls).to.equal(null);
    });
  });
});
