/**
 * Admin pages over real HTTP: login, sessions, CSRF, validation messages and
 * escaping of strangers' text.
 */
import { expect } from 'chai';
import { useTestDb, insertOutbox } from '../support/db.js';
import { ADMIN_PASSWORD, startInProcess, useSidecar } from '../support/sidecar.js';
import type { Receiver } from '../support/receiver.js';
import { Client } from '../support/browserless.js';
import { waitFor } from '../support/wait.js';
import { barChart } from '../../src/web/admin/index.js';

describe('admin pages', function () {
  this.timeout(30_000);
  const db = useTestDb('admin');
  const fx = useSidecar(db);
  const { api } = fx;
  let receiver: Receiver;

  before(async () => {
    await api('PATCH', '/api/settings', { retry_schedule_seconds: [], confirm: true });
    receiver = await fx.receiver();
  });

  describe('login and sessions', () => {
    it('redirects every admin page to the login form without a session', async () => {
      const c = new Client(fx.sidecar.url);
      for (const path of [
        '/admin',
        '/admin/endpoints',
        '/admin/endpoints/new',
        '/admin/deliveries',
        '/admin/events',
        '/admin/settings',
        '/admin/deliveries/1',
      ]) {
        const res = await c.get(path);
        expect(res.status, path).to.equal(303);
        expect(res.location).to.equal(`/admin/login?next=${encodeURIComponent(path)}`);
      }
      const post = await c.request('POST', '/admin/settings', { timeout_seconds: '5' });
      expect(post.status).to.equal(303);
      expect(post.location).to.equal('/admin/login');
    });

    it('logs in with the password, sets a hardened session cookie, and returns to the page asked for', async () => {
      const c = new Client(fx.sidecar.url);
      const page = await c.get('/admin/login?next=%2Fadmin%2Fsettings');
      expect(page.text).to.match(/name="password"/);
      const res = await c.request('POST', '/admin/login', {
        _csrf: Client.token(page.text),
        password: ADMIN_PASSWORD,
        next: '/admin/settings',
      });
      expect(res.status).to.equal(303);
      expect(res.location).to.equal('/admin/settings');
      expect((await c.get('/admin/settings')).status).to.equal(200);
      const raw = await fetch(`${fx.sidecar.url}/admin/login`, { method: 'POST', redirect: 'manual' });
      expect(raw.status).to.equal(403);
    });

    it('refuses an open redirect after login', async () => {
      const c = new Client(fx.sidecar.url);
      const page = await c.get('/admin/login');
      const res = await c.request('POST', '/admin/login', {
        _csrf: Client.token(page.text),
        password: ADMIN_PASSWORD,
        next: '//evil.example/admin',
      });
      expect(res.location).to.equal('/admin');
    });

    it('sets HttpOnly SameSite=Lax cookies and a new session id at each login', async () => {
      const page = await fetch(`${fx.sidecar.url}/admin/login`);
      const token = Client.token(await page.text());
      const csrfCookie = page.headers.getSetCookie()[0]!.split(';')[0]!;
      const login = () =>
        fetch(`${fx.sidecar.url}/admin/login`, {
          method: 'POST',
          redirect: 'manual',
          headers: { cookie: csrfCookie, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ _csrf: token, password: ADMIN_PASSWORD }).toString(),
        });
      const a = (await login()).headers.getSetCookie().find((c) => c.startsWith('whs_session='))!;
      const b = (await login()).headers.getSetCookie().find((c) => c.startsWith('whs_session='))!;
      expect(a)
        .to.match(/HttpOnly/)
        .and.match(/SameSite=Lax/)
        .and.match(/Path=\/admin/);
      expect(a.split(';')[0]).to.not.equal(b.split(';')[0]);
    });

    it('rejects a wrong password with a message, and throttles repeated failures', async () => {
      const c = new Client(fx.sidecar.url);
      try {
        const wrong = await c.login('not the password');
        expect(wrong.status).to.equal(401);
        expect(wrong.text).to.include('That password is not right.');
        for (let i = 0; i < 4; i++) await c.login('still wrong');
        const locked = await c.login(ADMIN_PASSWORD);
        expect(locked.status).to.equal(429);
        expect(locked.text).to.match(/Too many failed logins/);
      } finally {
        // The count is per address and lives in the database: the tests after this one log in again.
        await db.get().pool.query('DELETE FROM wp_webhook_login_attempts');
      }
    });

    for (const kind of ['ADMIN_PASSWORD', 'the generated password']) {
      it(`gives 50 parallel wrong passwords no more tries than the limit (${kind}), across two processes`, async () => {
        let generated = '';
        const env: Record<string, string> =
          kind === 'ADMIN_PASSWORD' ? {} : { ADMIN_PASSWORD: '', TABLE_PREFIX: 'gen_' };
        const opts = { loop: false, print: (line: string) => (generated = /: (\S+)$/.exec(line)?.[1] ?? '') };
        const a = await startInProcess(db.get().url, env, opts);
        const b = await startInProcess(db.get().url, env, opts);
        const table = kind === 'ADMIN_PASSWORD' ? 'wp_webhook_login_attempts' : 'gen_webhook_login_attempts';
        try {
          if (kind !== 'ADMIN_PASSWORD') expect(generated).to.have.length.greaterThan(10);
          const clients = Array.from({ length: 50 }, (_, i) => new Client((i % 2 ? a : b).url));
          const statuses = await Promise.all(clients.map((c) => c.login('wrong password').then((r) => r.status)));
          expect(
            statuses.filter((s) => s === 401),
            'checked',
          ).to.have.length(5);
          expect(
            statuses.filter((s) => s === 429),
            'refused',
          ).to.have.length(45);
          const right = kind === 'ADMIN_PASSWORD' ? ADMIN_PASSWORD : generated;
          expect((await new Client(a.url).login(right)).status, 'the right password waits too').to.equal(429);
          await db.get().pool.query(`DELETE FROM ${table}`);
          expect((await new Client(b.url).login(right)).status).to.equal(303);
        } finally {
          await db.get().pool.query(`DELETE FROM ${table}`);
          await a.stop();
          await b.stop();
        }
      });
    }

    it('expires a session after its idle timeout', async () => {
      const other = await startInProcess(db.get().url, {}, { loop: false });
      try {
        const c = new Client(other.url);
        expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
        expect((await c.get('/admin')).status).to.equal(200);
        await db.get().pool.query('UPDATE wp_webhook_admin_sessions SET expires_at = NOW(3) - INTERVAL 1 SECOND');
        const res = await c.get('/admin');
        expect(res.status).to.equal(303);
        expect(res.location).to.match(/^\/admin\/login/);
      } finally {
        await other.stop();
      }
    });

    it('invalidates the session at logout', async function () {
      // The throttle above is keyed by address; this test needs a fresh process.
      const other = await startInProcess(db.get().url, {}, { loop: false });
      try {
        const c = new Client(other.url);
        expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
        const session = c.cookie('whs_session')!;
        expect((await c.post('/admin/logout', {}, '/admin')).location).to.equal('/admin/login?notice=logged-out');
        const replay = new Client(other.url);
        replay.setCookie('whs_session', session);
        expect((await replay.get('/admin')).status).to.equal(303);
      } finally {
        await other.stop();
      }
    });
  });

  describe('forms', () => {
    let c: Client;
    before(async () => {
      const fresh = await startInProcess(db.get().url, {}, { loop: false });
      // Log in on a process whose throttle has seen no failures; sessions live in the database.
      const lc = new Client(fresh.url);
      expect((await lc.login(ADMIN_PASSWORD)).status).to.equal(303);
      await fresh.stop();
      c = new Client(fx.sidecar.url);
      c.setCookie('whs_session', lc.cookie('whs_session')!);
    });

    it('rejects a POST without a valid CSRF token', async () => {
      for (const token of [undefined, 'forged-token']) {
        const res = await c.request('POST', '/admin/settings', {
          ...(token ? { _csrf: token } : {}),
          timeout_seconds: '5',
        });
        expect(res.status).to.equal(403);
        expect(res.text).to.match(/form expired or did not come from this site/);
      }
      expect((await api('GET', '/api/settings')).body.timeout_seconds).to.equal(10);
    });

    it('shows validation errors next to the fields and keeps what was typed, escaped', async () => {
      const res = await c.post(
        '/admin/endpoints',
        { url: 'ftp://<b>x</b>', description: '"><script>alert(1)</script>', events_other: 'not valid!' },
        '/admin/endpoints/new',
      );
      expect(res.status).to.equal(400);
      // In the form's words, next to the field, tied to it, and listed in a summary that takes focus.
      expect(res.text).to.match(
        /class="field-error" id="url-error">Endpoint URL must be a full web address starting with https:\/\/ or http:\/\//,
      );
      expect(res.text).to.match(
        /id="events-error">&#34;not valid!&#34; is not an event type\. Use names such as enrollment\.created/,
      );
      expect(res.text).to.match(/<input id="url" name="url"[^>]* aria-invalid="true" aria-describedby="url-error">/);
      const summary = res.text.slice(
        res.text.indexOf('id="error-summary"'),
        res.text.indexOf('</div>', res.text.indexOf('id="error-summary"')),
      );
      expect(summary).to.match(/tabindex="-1" autofocus/);
      expect(summary).to.include('There are 2 problems');
      expect(summary).to.include('<a href="#url">Endpoint URL must be');
      expect(summary).to.include('<a href="#events">&#34;not valid!&#34; is not an event type');
      expect(res.text).to.not.match(/events\[\d\]|must contain|ISO 8601/);
      expect(res.text).to.include('value="ftp://&lt;b&gt;x&lt;/b&gt;"');
      expect(res.text).to.include('&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(res.text).to.not.include('<script>alert(1)');
    });

    it('creates an endpoint, edits it, and saves settings with field errors when wrong', async () => {
      const created = await c.post(
        '/admin/endpoints',
        {
          url: `${receiver.url}/ui`,
          description: 'CRM',
          events: ['enrollment.created', 'order.completed'],
          events_other: 'badge.*',
          enabled: 'on',
          confirm: 'on',
        },
        '/admin/endpoints/new',
      );
      expect(created.status).to.equal(303);
      const path = created.location!.split('?')[0]!;
      const page = await c.get(created.location!);
      expect(page.text).to.include('Endpoint created.');
      expect(page.text).to.match(/value="enrollment.created" checked/);
      expect(page.text).to.include('value="badge.*"');

      const bad = await c.post(
        '/admin/settings',
        { retry_schedule_seconds: '60, soon', timeout_seconds: '0' },
        '/admin/settings',
      );
      expect(bad.status).to.equal(400);
      expect(bad.text).to.match(
        /id="retry_schedule_seconds-error">Retry schedule must be whole numbers separated by commas; &#34;soon&#34; is not one\./,
      );
      expect(bad.text).to.match(/id="timeout_seconds-error">Request timeout must be 1 or more\./);
      expect(bad.text).to.include('value="60, soon"');

      const fields = {
        retry_schedule_seconds: '30, 60',
        timeout_seconds: '7',
        retry_jitter_ratio: '0.1',
        retry_after_cap_seconds: '3600',
        max_in_flight_per_endpoint: '16',
        auto_disable_after_hours: '48',
        retention_days: '14',
        response_body_max_bytes: '2048',
        max_payload_bytes: '65536',
        rotation_grace_hours: '12',
      };
      const ok = await c.post('/admin/settings', fields, '/admin/settings');
      expect(ok.location).to.equal('/admin/settings?notice=settings-saved');
      const s = (await api('GET', '/api/settings')).body;
      expect(s).to.include({ timeout_seconds: 7, max_in_flight_per_endpoint: 16, retention_days: 14 });
      expect(s.retry_schedule_seconds).to.deep.equal([30, 60]);
      await api('PATCH', '/api/settings', { retry_schedule_seconds: [], timeout_seconds: 10, confirm: true });
      expect(path).to.match(/^\/admin\/endpoints\/\d+$/);

      const unconfirmed = await c.post(`${path}/delete`, {}, path);
      expect(unconfirmed.status).to.equal(400);
      expect(unconfirmed.text).to.match(/Tick the box to confirm/);
      const deleted = await c.post(`${path}/delete`, { confirm: 'on' }, path);
      expect(deleted.location).to.equal('/admin/endpoints?notice=endpoint-deleted');
      expect((await c.get(path)).status).to.equal(404);
    });

    it('renders payloads and response bodies from strangers as text', async () => {
      receiver.respond(() => ({
        status: 500,
        headers: { 'content-type': 'text/html', 'x-evil': '<svg onload=alert(3)>' },
        body: '<img src=x onerror=alert(2)>',
      }));
      await api('POST', '/api/endpoints', { url: `${receiver.url}/xss`, events: ['student.updated'] });
      await insertOutbox(db.get().pool, [{ type: 'student.updated', payload: { name: '<script>alert(1)</script>' } }]);
      const [d] = await waitFor(
        'failed delivery',
        async () => (await api('GET', '/api/deliveries?event_type=student.updated&status=failed')).body.data,
      );
      const page = await c.get(`/admin/deliveries/${d.id}`);
      expect(page.status).to.equal(200);
      expect(page.text).to.include('&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(page.text).to.include('&lt;img src=x onerror=alert(2)&gt;');
      expect(page.text).to.include('&lt;svg onload=alert(3)&gt;');
      expect(page.text).to.not.match(/<script>alert|<img src=x|<svg onload/);
      receiver.respond(() => ({ status: 200 }));
    });

    it('serves every page with a CSP that allows no inline script', async () => {
      for (const path of ['/admin', '/admin/endpoints', '/admin/deliveries', '/admin/events', '/admin/settings']) {
        const res = await fetch(fx.sidecar.url + path, {
          headers: { cookie: `whs_session=${c.cookie('whs_session')}` },
        });
        expect(res.status, path).to.equal(200);
        expect(res.headers.get('content-security-policy')).to.match(/script-src 'self'/);
        expect(await res.text()).to.not.match(/<script(?![^>]*src=)/);
      }
    });

    it('answers a bad filter on the log with a message, not a crash', async () => {
      const res = await c.get('/admin/deliveries?status=lost&endpoint_id=abc');
      expect(res.status).to.equal(400);
      expect(res.text).to.match(/Endpoint must be a number\. Status must be one of: pending, /);
      const notice = res.text.slice(
        res.text.indexOf('id="filter-error"'),
        res.text.indexOf('</div>', res.text.indexOf('id="filter-error"')),
      );
      expect(notice).to.not.match(/endpoint_id|\bmust be one of \[/);
      expect(res.text).to.not.include('No deliveries');
      const date = await c.get('/admin/deliveries?since=yesterday');
      expect(date.text).to.include('From must be a date and time written as 2026-11-30 10:12 (UTC).');
    });
  });

  it('draws 24 hourly bars scaled to the busiest hour', () => {
    const hours = Array.from({ length: 24 }, (_, i) => ({
      hour: new Date(Date.UTC(2025, 0, 1, i)),
      succeeded: i === 5 ? 10 : 1,
      other: i === 5 ? 10 : 0,
    }));
    const chart = barChart(hours, 720, 160);
    expect(chart.bars).to.have.length(24);
    expect(chart.max).to.equal(20);
    expect(chart.bars[5]!.okHeight + chart.bars[5]!.otherHeight).to.equal(140);
    expect(chart.bars[0]!.label).to.equal('00h');
  });
});
