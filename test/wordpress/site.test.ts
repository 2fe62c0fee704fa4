/**
 * A real WordPress host: Debian's WordPress installed with wp_install() into a
 * fresh database, reached by an account that exists only for localhost (so
 * only the Unix socket works), the outbox created with the README's DDL, and
 * events written by the README's snippet from PHP in a non-UTC session. The
 * sidecar runs as a child process configured by nothing but WP_CONFIG.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import { useTestDb, SERVER_URL } from '../support/db.js';
import { API_TOKEN, apiClient, spawnSidecar, type Child } from '../support/sidecar.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { freePort } from '../support/net.js';
import { Client } from '../support/browserless.js';
import { waitFor } from '../support/wait.js';
import { installWordPress, readmeBlock, runLms, writeWpConfig, type WpUserSpec } from '../support/wordpress.js';
import { USUAL_SOCKETS } from '../../src/wordpress/socket.js';
import { mkdirSync } from 'node:fs';
import { checkWordPressAdmin } from '../../src/wordpress/admins.js';
import { tableNames } from '../../src/db/tables.js';
import { launchChromium } from '../support/browser.js';

const PASSWORDS = {
  siteadmin: 'Site admin pass 1!',
  admin68: 'wp 6.8 hashed pass',
  adminbc: 'plain bcrypt pass',
  adminmd5: 'very old md5 pass',
  ed: 'editor password',
  sub: 'subscriber password',
};

describe('on a real WordPress host', function () {
  this.timeout(60_000);
  const db = useTestDb('wordpress');
  const account = `wph_${randomBytes(3).toString('hex')}`;
  const accountPassword = `p@ss#${randomBytes(4).toString('hex')}`;
  let wpConfig: string;
  let child: Child;
  let base: string;
  let receiver: Receiver;
  let hashes: Record<string, { id: number; hash: string }>;
  let dbHost: string;

  before(async () => {
    const pool = db.get().pool;
    // An account that exists only for localhost: over TCP to 127.0.0.1 it is refused.
    await pool.query(`CREATE USER '${account}'@'localhost' IDENTIFIED BY ?`, [accountPassword]);
    await pool.query(`GRANT ALL ON \`${db.get().name}\`.* TO '${account}'@'localhost'`);
    db.get().beforeDrop(async () => {
      await db.get().pool.query(`DROP USER IF EXISTS '${account}'@'localhost'`);
    });
    // 'localhost' finds the socket as PHP does; a server on a socket no one would guess gets it named.
    const [[s]] = await pool.query<RowDataPacket[]>('SELECT @@socket AS socket');
    dbHost = USUAL_SOCKETS.includes(String(s!.socket)) ? 'localhost' : `localhost:${String(s!.socket)}`;

    const users: WpUserSpec[] = [
      {
        login: 'admin68',
        email: 'admin68@example.com',
        password: PASSWORDS.admin68,
        role: 'administrator',
        hash: 'wp68',
      },
      {
        login: 'adminbc',
        email: 'adminbc@example.com',
        password: PASSWORDS.adminbc,
        role: 'administrator',
        hash: 'bcrypt',
      },
      {
        login: 'adminmd5',
        email: 'adminmd5@example.com',
        password: PASSWORDS.adminmd5,
        role: 'administrator',
        hash: 'md5',
      },
      { login: 'ed', email: 'ed@example.com', password: PASSWORDS.ed, role: 'editor' },
      { login: 'sub', email: 'sub@example.com', password: PASSWORDS.sub, role: 'subscriber' },
    ];
    const server = new URL(SERVER_URL);
    ({ users: hashes } = await installWordPress({
      dbName: db.get().name,
      dbUser: decodeURIComponent(server.username),
      dbPassword: decodeURIComponent(server.password),
      dbHost: `${server.hostname}:${server.port || 3306}`,
      prefix: 'wp_',
      admin: { login: 'siteadmin', email: 'siteadmin@example.com', password: PASSWORDS.siteadmin },
      users,
      options: { timezone_string: 'Asia/Tokyo' },
    }));
    // The LMS made its outbox with the README's DDL, and a table for its own business rows.
    await pool.query(readmeBlock('lms-ddl'));
    await pool.query(
      'CREATE TABLE wp_lms_enrollments (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(191)) ENGINE=InnoDB',
    );

    wpConfig = writeWpConfig({
      dbName: db.get().name,
      dbUser: account,
      dbPassword: accountPassword,
      dbHost,
      prefix: 'wp_',
    });
    const port = await freePort();
    child = spawnSidecar({
      WP_CONFIG: wpConfig,
      PORT: String(port),
      API_TOKEN,
      ALLOW_PRIVATE_TARGETS: 'true',
      ADMIN_PASSWORD: 'the sidecar password',
      LOG_LEVEL: 'info',
    });
    base = `http://127.0.0.1:${port}`;
    await waitFor(
      'sidecar up',
      async () => (await fetch(`${base}/healthz`).catch(() => null))?.status === 200,
      30_000,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${child.output()}`);
    });
    receiver = await startReceiver();
    db.get().beforeDrop(async () => {
      if (child.proc.exitCode === null) {
        child.proc.kill('SIGTERM');
        await child.exited;
      }
      await receiver.close();
    });
  });

  it('starts from wp-config.php alone, over the Unix socket, with an account that exists only for localhost', async () => {
    expect(hashes.ed!.hash, 'this WordPress writes phpass').to.match(/^\$P\$/);
    const [conns] = await db
      .get()
      .pool.query<RowDataPacket[]>('SELECT HOST AS host FROM information_schema.PROCESSLIST WHERE USER = ?', [account]);
    expect(conns.length, 'the sidecar is connected').to.be.greaterThan(0);
    expect(conns.map((c) => c.host)).to.satisfy((hosts: string[]) => hosts.every((h) => h === 'localhost'));
    if (dbHost === 'localhost')
      expect(child.output()).to.match(
        /DB_HOST 'localhost' means the local Unix socket, as PHP's mysqli takes it: using \//,
      );
    // Every WordPress table is untouched; the sidecar's own are there.
    const [tables] = await db.get().pool.query<RowDataPacket[]>("SHOW TABLES LIKE 'wp\\_webhook\\_%'");
    expect(tables.length).to.be.greaterThan(5);
  });

  it('gives receivers the true UTC created_at whatever the LMS session’s time zone', async () => {
    const api = apiClient(base);
    const ep = await api('POST', '/api/endpoints', { url: receiver.url, events: ['enrollment.*'] });
    expect(ep.status).to.equal(201);
    for (const tz of ['+09:00', '-05:00']) {
      const before = Date.now();
      const r = await runLms(wpConfig, {
        time_zone: tz,
        business_table: 'wp_lms_enrollments',
        events: [{ type: 'enrollment.created', data: { tz } }],
      });
      const after = Date.now();
      expect(r.results, r.last_error).to.deep.equal([true]);
      const got = await waitFor(`the event written at ${tz}`, () =>
        receiver.received.find((x) => (x.json.data as { tz?: string }).tz === tz),
      );
      const created = Date.parse(got.json.created_at);
      // created_at is whole seconds: within a second of the insert, not hours off.
      expect(created, `${tz}: ${got.json.created_at}`).to.be.within(
        Math.floor(before / 1000) * 1000 - 1000,
        after + 1000,
      );
    }
  });

  it('the README snippet returns false and the LMS rolls back when the outbox is missing; nothing is half-written', async () => {
    const [[before]] = await db.get().pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM wp_lms_enrollments');
    const r = await runLms(wpConfig, {
      prefix: 'nope_',
      business_table: 'wp_lms_enrollments',
      events: [{ type: 'enrollment.created', data: {} }],
    });
    expect(r.results).to.deep.equal([false]);
    expect(r.last_error).to.match(/nope_webhook_outbox' doesn't exist/);
    const [[after]] = await db.get().pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM wp_lms_enrollments');
    expect(Number(after!.n)).to.equal(Number(before!.n));
  });

  it('lets WordPress administrators sign in with every hash WordPress writes, and nobody else', async () => {
    const tries: [string, string, number][] = [
      ['siteadmin', PASSWORDS.siteadmin, 303],
      ['siteadmin@example.com', PASSWORDS.siteadmin, 303],
      ['admin68', PASSWORDS.admin68, 303],
      ['adminbc', PASSWORDS.adminbc, 303],
      ['adminmd5', PASSWORDS.adminmd5, 303],
      ['', 'the sidecar password', 303],
      ['ed', PASSWORDS.ed, 401],
      ['sub', PASSWORDS.sub, 401],
      ['siteadmin', 'not the password', 401],
      ['nobody', PASSWORDS.siteadmin, 401],
      ['', PASSWORDS.siteadmin, 401],
    ];
    for (const [user, password, status] of tries) {
      await db.get().pool.query('DELETE FROM wp_webhook_login_attempts');
      const c = new Client(base);
      const res = await c.login(password, user);
      expect(res.status, `${user || '(empty)'} / ${password}`).to.equal(status);
      if (status === 401) expect(res.text).to.match(/is not right/);
      if (status === 303)
        expect((await c.get('/admin')).text).to.contain(
          `Signed in as ${user === '' ? 'admin' : user.replace('@example.com', '')}`,
        );
    }
    expect(hashes.admin68!.hash).to.match(/^\$wp\$2y\$/);
    // Wrong tries count against the throttle like any login.
    await db.get().pool.query('DELETE FROM wp_webhook_login_attempts');
    for (let i = 0; i < 5; i++) expect((await new Client(base).login('wrong', 'siteadmin')).status).to.equal(401);
    expect((await new Client(base).login(PASSWORDS.siteadmin, 'siteadmin')).status).to.equal(429);
    await db.get().pool.query('DELETE FROM wp_webhook_login_attempts');
    // Read only: WordPress's own tables were not written.
    const [[u]] = await db
      .get()
      .pool.query<RowDataPacket[]>('SELECT user_pass FROM wp_users WHERE user_login = ?', ['adminmd5']);
    expect(u!.user_pass).to.equal(hashes.adminmd5!.hash);
  });

  it('spends the same work on a user name that does not exist as on one that does', async () => {
    const pool = db.get().pool;
    const t = tableNames('wp_');
    const time = async (name: string) => {
      const started = process.hrtime.bigint();
      expect(await checkWordPressAdmin(pool, t, name, 'not the password')).to.equal(null);
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    // Interleaved, after one of each to warm up, so a busy moment on the machine falls on both alike.
    await time('siteadmin');
    await time('nobody-at-all');
    const knownMs: number[] = [];
    const unknownMs: number[] = [];
    for (let i = 0; i < 9; i++) {
      knownMs.push(await time('siteadmin'));
      unknownMs.push(await time('nobody-at-all'));
    }
    const median = (xs: number[]) => xs.sort((x, y) => x - y)[4]!;
    const known = median(knownMs);
    const unknown = median(unknownMs);
    process.stdout.write(
      `      (wrong password: ${known.toFixed(2)} ms for a user who exists, ${unknown.toFixed(2)} ms for one who does not)\n`,
    );
    // Without the decoy hash the unknown name answers in about a tenth of the time (two quick queries, no hashing).
    expect(unknown / known, 'the same order of time').to.be.within(1 / 3, 3);
  });

  it('shows times in the site’s zone with UTC alongside', async () => {
    const c = new Client(base);
    expect((await c.login(PASSWORDS.siteadmin, 'siteadmin')).status).to.equal(303);
    const log = await c.get('/admin/deliveries');
    expect(log.text).to.contain('Times: Asia/Tokyo, UTC alongside');
    // Tokyo is UTC+9 all year: the local time and the UTC one differ by nine hours.
    const m = /(\d{4}-\d\d-\d\d) (\d\d):(\d\d):(\d\d) GMT\+9 \(((\d{4}-\d\d-\d\d) )?(\d\d):\d\d:\d\d UTC\)/.exec(
      log.text,
    );
    expect(m, log.text.slice(0, 3000)).to.not.equal(null);
    expect((Number(m![2]) - Number(m![7]) + 24) % 24).to.equal(9);
  });

  it('signs a WordPress administrator in through Chromium; a subscriber is refused there too', async () => {
    const browser = await launchChromium();
    try {
      await db.get().pool.query('DELETE FROM wp_webhook_login_attempts');
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(`${base}/admin/login`);
      await page.fill('#username', 'sub');
      await page.fill('#password', PASSWORDS.sub);
      await page.click('button[type=submit]');
      expect(await page.textContent('[role=alert]')).to.match(/not a WordPress administrator/);
      expect(await page.inputValue('#username'), 'the user name is kept').to.equal('sub');
      await page.fill('#username', 'siteadmin');
      await page.fill('#password', PASSWORDS.siteadmin);
      await page.click('button[type=submit]');
      await page.waitForURL(/\/admin$/);
      expect(await page.textContent('.who')).to.match(
        /Signed in as siteadmin \(WordPress\)\s*Times: Asia\/Tokyo, UTC alongside/,
      );
      mkdirSync('test-artifacts/screens', { recursive: true });
      await page.goto(`${base}/admin/deliveries`);
      await page.screenshot({ path: 'test-artifacts/screens/20-wordpress-admin-log.png', fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
