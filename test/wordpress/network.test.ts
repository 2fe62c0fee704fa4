/**
 * A real WordPress multisite network (Debian's WordPress, made a network with
 * WordPress's own install_network() and populate_network() under php-cli):
 * the main site, site 2, and site 3 archived. Each site's LMS snippet writes
 * its own outbox (switch_to_blog, as a request to that site would), and one
 * sidecar configured by the network's wp-config.php serves them all.
 */
import { expect } from 'chai';
import type { Router } from 'express';
import { createHmac } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import { createTestDb, useTestDb, SERVER_URL } from '../support/db.js';
import { ADMIN_PASSWORD, API_TOKEN, apiClient, type Api } from '../support/sidecar.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { Client } from '../support/browserless.js';
import { waitFor } from '../support/wait.js';
import { runLms, writeWpConfig } from '../support/wordpress.js';
import { changeNetwork, installNetwork, type NetworkDb } from '../support/network.js';
import { routesOf } from '../support/routes.js';
import { createLogger } from '../../src/log.js';
import { loadConfig } from '../../src/config.js';
import { startSidecar, type Sidecar } from '../../src/sidecar.js';
import { ConfigError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { SECRETS_KEY, testEnv } from '../support/sidecar.js';
import { apiRouter } from '../../src/web/api.js';
import { networkSiteAdminRouter } from '../../src/web/admin/index.js';
import type { Service } from '../../src/manage/service.js';
import type { AdminDeps } from '../../src/web/admin/deps.js';
import { mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { launchChromium, SCREENS } from '../support/browser.js';

const NET_ADMIN = { login: 'netadmin', email: 'netadmin@example.com', password: 'network admin pass 1' };
const SITE2_ADMIN = { login: 'admin2', email: 'admin2@example.com', password: 'site two admin pass' };
const SITE2_EDITOR = { login: 'editor2', email: 'editor2@example.com', password: 'site two editor pass' };

/** Every admin page and API route, its ids filled with ids that exist on the main site. */
function everyRoute(router: Router, ids: Record<string, number>) {
  return routesOf(router).map(({ method, path }) => ({
    method,
    path: path.replace(/:([A-Za-z_]+)/g, (_m, name: string) => String(ids[name] ?? ids.id)),
  }));
}

/** The key an API keys page shows once, just after it was made. */
const newKey = (html: string) => /<code class="secret" id="new-key">([^<]+)<\/code>/.exec(html)![1]!;

describe('a WordPress multisite network served by one sidecar', function () {
  this.timeout(120_000);
  const db = useTestDb('network');
  const logLines: string[] = [];
  let net: NetworkDb;
  let wpConfig: string;
  let sidecar: Sidecar;
  let api: Api;
  const receivers: Record<number, Receiver> = {};
  const endpoints: Record<number, { id: number; secret: string }> = {};

  before(async () => {
    const server = new URL(SERVER_URL);
    net = {
      dbName: db.get().name,
      dbUser: decodeURIComponent(server.username),
      dbPassword: decodeURIComponent(server.password),
      dbHost: `${server.hostname}:${server.port || 3306}`,
      prefix: 'wp_',
    };
    await installNetwork(net, NET_ADMIN);
    const made = await changeNetwork(net, {
      sites: [
        { path: '/site2/', title: 'Site two' },
        { path: '/site3/', title: 'Site three' },
      ],
      users: [
        { ...SITE2_ADMIN, role: 'administrator', sites: ['/site2/'] },
        { ...SITE2_EDITOR, role: 'editor', sites: ['/site2/'] },
      ],
    });
    expect(made.sites).to.deep.equal({ '/site2/': 2, '/site3/': 3 });
    await changeNetwork(net, { flags: [{ blog_id: 3, flag: 'archived', value: '1' }] });
    wpConfig = writeWpConfig({ ...net, multisite: true });
    for (const t of ['wp_lms_enrollments', 'wp_2_lms_enrollments'])
      await db
        .get()
        .pool.query(`CREATE TABLE ${t} (id BIGINT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(100)) ENGINE=InnoDB`);

    const log = createLogger('info', (line) => logLines.push(line));
    // Only WP_CONFIG says where the tables are and that this is a network (testEnv's DATABASE_URL is the same database).
    sidecar = await startSidecar(loadConfig(testEnv(db.get().url, { WP_CONFIG: wpConfig })), log, {
      print: () => {},
      siteRefreshMs: 300,
    });
    db.get().beforeDrop(() => sidecar.stop());
    api = apiClient(sidecar.url);
    for (const blog of [1, 2]) {
      receivers[blog] = await startReceiver();
      db.get().beforeDrop(() => receivers[blog]!.close());
      const res = await api('POST', `/sites/${blog}/api/endpoints`, {
        url: receivers[blog].url,
        events: ['*'],
        description: `site ${blog} receiver`,
      });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      endpoints[blog] = { id: res.body.id, secret: res.body.secret };
    }
  });

  const logged = (msg: string) =>
    logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);

  it('serves the main site and site 2, leaves the archived site 3 alone and says so', async () => {
    expect(sidecar.sites!.served().map((s) => [s.blogId, s.url])).to.deep.equal([
      [1, 'http://localhost'],
      [2, 'http://localhost/site2'],
    ]);
    expect(sidecar.sites!.leftAlone()).to.deep.equal([
      { blogId: 3, url: '//localhost/site3/', reason: 'archived in WordPress' },
    ]);
    expect(logged('a site of the network is left alone')).to.deep.include.members([
      { ...logged('a site of the network is left alone')[0], blog_id: 3, reason: 'archived in WordPress' },
    ]);
    const [tables] = await db
      .get()
      .pool.query<RowDataPacket[]>(
        "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE '%webhook\\_outbox'",
      );
    expect(tables.map((r) => String(r.t)).sort()).to.deep.equal(['wp_2_webhook_outbox', 'wp_webhook_outbox']);
  });

  it("delivers each site's events, written by its own LMS snippet, to its own endpoints only, naming the site", async () => {
    const r1 = await runLms(wpConfig, {
      business_table: 'wp_lms_enrollments',
      events: [{ type: 'enrollment.created', data: { student_id: 'main_1', course_id: 7 } }],
    });
    const r2 = await runLms(wpConfig, {
      blog_id: 2,
      business_table: 'wp_2_lms_enrollments',
      events: [
        { type: 'enrollment.created', data: { student_id: 'two_1', course_id: 8 } },
        { type: 'enrollment.completed', data: { student_id: 'two_1', course_id: 8 } },
      ],
    });
    expect([r1.results, r2.results]).to.deep.equal([[true], [true, true]]);
    const [[outboxes]] = await db
      .get()
      .pool.query<RowDataPacket[]>(
        "SELECT (SELECT COUNT(*) FROM wp_webhook_outbox WHERE event_type LIKE 'enrollment.%') AS main, (SELECT COUNT(*) FROM wp_2_webhook_outbox) AS two",
      );
    expect([Number(outboxes!.main), Number(outboxes!.two)]).to.deep.equal([1, 2]);

    await waitFor(
      "both sites' events at their receivers",
      () => receivers[1]!.received.length >= 1 && receivers[2]!.received.length >= 2,
    );
    const bodies = (blog: number) =>
      receivers[blog]!.received.map(
        (r) => r.json as unknown as { event: string; data: { student_id: string }; site: unknown },
      );
    // Every site's deliveries are done: nothing else is coming to either receiver.
    await waitFor('every delivery of both sites done', async () => {
      const [[d]] = await db
        .get()
        .pool.query<RowDataPacket[]>(
          "SELECT (SELECT COUNT(*) FROM wp_webhook_deliveries WHERE status <> 'succeeded') + (SELECT COUNT(*) FROM wp_2_webhook_deliveries WHERE status <> 'succeeded') AS open",
        );
      return Number(d!.open) === 0;
    });
    expect(bodies(1).map((b) => [b.event, b.data.student_id, b.site])).to.deep.equal([
      ['enrollment.created', 'main_1', { id: 1, url: 'http://localhost' }],
    ]);
    expect(bodies(2).map((b) => [b.event, b.data.student_id, b.site])).to.deep.equal([
      ['enrollment.created', 'two_1', { id: 2, url: 'http://localhost/site2' }],
      ['enrollment.completed', 'two_1', { id: 2, url: 'http://localhost/site2' }],
    ]);
    // Signed with the site's own endpoint secret.
    for (const blog of [1, 2])
      for (const r of receivers[blog]!.received)
        expect(r.headers['x-webhook-signature']).to.equal(
          createHmac('sha256', endpoints[blog]!.secret).update(r.raw).digest('hex'),
        );
  });

  it('picks up a new site within the refresh, serves an archived site once it is brought back, and lets go of one archived again', async () => {
    const made = await changeNetwork(net, { sites: [{ path: '/site4/', title: 'Site four' }] });
    expect(made.sites['/site4/']).to.equal(4);
    await waitFor('site 4 served', () => sidecar.sites!.get(4) !== null);
    expect(sidecar.sites!.get(4)!.url).to.equal('http://localhost/site4');
    await changeNetwork(net, { flags: [{ blog_id: 3, flag: 'archived', value: '0' }] });
    await waitFor('site 3 served once brought back', () => sidecar.sites!.get(3) !== null);
    await changeNetwork(net, { flags: [{ blog_id: 3, flag: 'archived', value: '1' }] });
    await waitFor('site 3 let go once archived again', () => sidecar.sites!.get(3) === null);
    expect(sidecar.sites!.leftAlone().map((s) => s.blogId)).to.deep.equal([3]);
    // The archived site's tables stay: brought back, it resumes where it was.
    const [t3] = await db
      .get()
      .pool.query<RowDataPacket[]>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'wp_3_webhook_outbox'",
      );
    expect(t3).to.have.length(1);
  });

  it('a site WordPress deletes leaves none of our tables behind', async () => {
    await waitFor('site 4 served', () => sidecar.sites!.get(4) !== null);
    const ours = async () =>
      (
        await db
          .get()
          .pool.query<RowDataPacket[]>(
            "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE 'wp\\_4\\_%'",
          )
      )[0].map((r) => String(r.t));
    expect(await ours()).to.include('wp_4_webhook_outbox');
    await changeNetwork(net, { delete: [4] });
    await waitFor("site 4's webhook tables dropped", async () => (await ours()).length === 0);
    // The registry logs the drop after the DROP statements return: the tables can be seen gone first.
    const droppedLog = () =>
      logged('a site was deleted from the network: dropped its webhook tables').map((l) => l.blog_id);
    await waitFor('the drop logged', () => droppedLog().length > 0);
    expect(sidecar.sites!.get(4)).to.equal(null);
    expect(droppedLog()).to.deep.equal([4]);
  });

  it('npm run secrets acts on every site of the network, naming each', () => {
    const cli = fileURLToPath(new URL('../../src/manage/secretsCli.js', import.meta.url));
    const run = (command: string) =>
      spawnSync(process.execPath, [cli, command], {
        env: { PATH: process.env.PATH ?? '', DATABASE_URL: db.get().url, WP_CONFIG: wpConfig, SECRETS_KEY },
        encoding: 'utf8',
      });
    const status = run('status');
    expect(status.status, status.stderr).to.equal(0);
    // Each site's endpoint secret (and its copy of nothing else): one sealed value per site.
    expect(status.stdout)
      .to.match(/^site 1: +\d+ sealed with key \w+$/m)
      .and.to.match(/^site 2: +\d+ sealed with key \w+$/m);
    const rotate = run('rotate');
    expect(rotate.status, rotate.stderr).to.equal(0);
    expect(rotate.stdout)
      .to.match(/^site 1: sealed 0 plain and re-sealed 0 secrets/m)
      .and.to.match(/^site 2: sealed 0 plain/m);
  });

  it("a site's administrator sees only that site: every page and API route of another site answers 404, and nothing there changes", async () => {
    const c = new Client(sidecar.url);
    expect((await c.login(SITE2_ADMIN.password, SITE2_ADMIN.login)).status).to.equal(303);
    const home = await c.get('/admin');
    expect([home.status, home.location]).to.deep.equal([303, '/sites/2/admin']);
    const own = await c.get('/sites/2/admin/endpoints');
    expect(own.status).to.equal(200);
    expect(own.text).to.contain('site 2 receiver').and.not.contain('site 1 receiver');
    const token = Client.token(own.text);

    // A delivery of the main site, so routes with a delivery id name a real one.
    const [[d1]] = await db.get().pool.query<RowDataPacket[]>('SELECT MIN(id) AS id FROM wp_webhook_deliveries');
    const [[o1]] = await db.get().pool.query<RowDataPacket[]>('SELECT MIN(id) AS id FROM wp_webhook_outbox');
    const ids = { id: endpoints[1]!.id, deliveryId: Number(d1!.id), outboxId: Number(o1!.id) };
    const pages = everyRoute(networkSiteAdminRouter({ service: {} as Service } as AdminDeps), ids);
    expect(pages.length).to.be.at.least(25);
    for (const site of [1, 3, 99])
      for (const { method, path } of pages) {
        const url = `/sites/${site}/admin${path}`;
        const res = method === 'GET' ? await c.get(url) : await c.request(method, url, { _csrf: token });
        expect(res.status, `${method} ${url}`).to.equal(404);
        expect(res.text, `${method} ${url}`).to.contain('Not found');
      }

    // A key made on its own site works there and nowhere else.
    const made = await c.request('POST', '/sites/2/admin/api-keys', { _csrf: token, name: 'site two', scope: 'full' });
    expect(made.status).to.equal(201);
    const key = newKey(made.text);
    expect(key).to.match(/^whk_s2_/);
    const mine = await api('GET', '/sites/2/api/endpoints', undefined, key);
    // /api is the main site's, as it was before the network was served.
    const alias = await api('GET', '/api/endpoints');
    expect([
      alias.status,
      alias.body.data.map((e: { id: number; description: string }) => e.description),
    ]).to.deep.equal([200, ['site 1 receiver']]);
    expect([mine.status, mine.body.data.map((e: { id: number }) => e.id)]).to.deep.equal([200, [endpoints[2]!.id]]);
    const routes = everyRoute(apiRouter({} as Service), { ...ids, id: endpoints[1]!.id });
    expect(routes.length).to.be.at.least(16);
    for (const prefix of ['/sites/1/api', '/api', '/sites/3/api'])
      for (const { method, path } of routes) {
        const res = await api(method, prefix + path, method === 'GET' || method === 'DELETE' ? undefined : {}, key);
        expect([res.status, res.body?.error?.code], `${method} ${prefix}${path}`).to.deep.equal([404, 'not_found']);
      }
    // A network key is a network administrator's to make.
    const refused = await c.request('POST', '/sites/2/admin/api-keys', { _csrf: token, name: 'all', scope: 'network' });
    expect(refused.status).to.equal(400);
    expect(refused.text).to.contain('network (full on every site) is made by a network administrator');

    // The main site's endpoint is untouched.
    const main = await api('GET', `/sites/1/api/endpoints/${endpoints[1]!.id}`);
    expect([main.status, main.body.description, main.body.enabled]).to.deep.equal([200, 'site 1 receiver', true]);
    // An editor of the site cannot sign in at all.
    expect((await new Client(sidecar.url).login(SITE2_EDITOR.password, SITE2_EDITOR.login)).status).to.equal(401);
  });

  it('a network administrator sees every site, the overview with failing endpoints first, and may change any site', async () => {
    const c = new Client(sidecar.url);
    expect((await c.login(NET_ADMIN.password, NET_ADMIN.login)).status).to.equal(303);
    // Site 2's receiver starts failing.
    receivers[2]!.respond(() => ({ status: 500 }));
    await runLms(wpConfig, {
      blog_id: 2,
      business_table: 'wp_2_lms_enrollments',
      events: [{ type: 'enrollment.created', data: { student_id: 'two_2', course_id: 8 } }],
    });
    await waitFor(
      "site 2's endpoint failing",
      async () => (await api('GET', `/sites/2/api/endpoints/${endpoints[2]!.id}`)).body.failing_since !== null,
    );
    const overview = await c.get('/admin');
    expect(overview.status).to.equal(200);
    const order = [...overview.text.matchAll(/<a href="\/sites\/(\d+)\/admin">Site \d+<\/a>/g)].map((m) =>
      Number(m[1]),
    );
    expect(order).to.deep.equal([2, 1]);
    expect(overview.text).to.contain(`/sites/2/admin/endpoints/${endpoints[2]!.id}`);
    expect(overview.text).to.contain('Site 3 (//localhost/site3/): archived in WordPress');
    // The site switcher names every served site.
    const page = await c.get('/sites/2/admin/endpoints');
    expect(page.status).to.equal(200);
    expect(page.text).to.contain('href="/sites/1/admin"').and.contain('href="/sites/2/admin" aria-current="true"');
    // Changes another site's endpoint through its pages.
    const edit = await c.post(
      `/sites/2/admin/endpoints/${endpoints[2]!.id}`,
      { url: receivers[2]!.url, events: '*', description: 'renamed by the network admin', enabled: 'on' },
      `/sites/2/admin/endpoints/${endpoints[2]!.id}`,
    );
    expect([edit.status, edit.location]).to.deep.equal([
      303,
      `/sites/2/admin/endpoints/${endpoints[2]!.id}?notice=endpoint-saved`,
    ]);
    expect((await api('GET', `/sites/2/api/endpoints/${endpoints[2]!.id}`)).body.description).to.equal(
      'renamed by the network admin',
    );
    // A network key, made on the main site, reaches every site.
    const made = await c.post('/sites/1/admin/api-keys', { name: 'everywhere', scope: 'network' });
    expect(made.status).to.equal(201);
    const key = newKey(made.text);
    expect(key).not.to.match(/^whk_s\d/);
    for (const blog of [1, 2])
      expect((await api('GET', `/sites/${blog}/api/endpoints`, undefined, key)).status, `site ${blog}`).to.equal(200);
    receivers[2]!.respond(() => ({ status: 200 }));
  });

  it('in Chromium: the overview and the site switcher, with no WCAG 2.2 AA violations, on a phone too', async () => {
    const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
    mkdirSync(`${SCREENS}/network`, { recursive: true });
    const browser = await launchChromium();
    try {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
      const page = await context.newPage();
      const axe = async (name: string) => {
        await page.addScriptTag({ path: AXE });
        const r = await page.evaluate<{ violations: { id: string; help: string }[] }>(
          "axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa', 'wcag22aa'] } })",
        );
        expect(
          r.violations.map((v) => `${v.id}: ${v.help}`),
          name,
        ).to.deep.equal([]);
      };
      await page.goto(`${sidecar.url}/admin/login`);
      await page.fill('#username', NET_ADMIN.login);
      await page.fill('#password', NET_ADMIN.password);
      await page.click('button[type=submit]');
      await page.waitForURL(/\/admin$/);
      expect(await page.textContent('h1')).to.equal('Network');
      await axe('network overview');
      await page.screenshot({ path: `${SCREENS}/network/overview-1280.png`, fullPage: true });
      // The switcher takes the operator to site 2's own pages.
      await page.click('nav.sidebar a[href="/sites/2/admin"]');
      await page.waitForURL(/\/sites\/2\/admin$/);
      await page.click('nav.sidebar a[href="/sites/2/admin/endpoints"]');
      await page.waitForURL(/\/sites\/2\/admin\/endpoints$/);
      expect(await page.textContent('main')).to.contain('renamed by the network admin');
      await axe('site 2 endpoints');
      await page.screenshot({ path: `${SCREENS}/network/site2-endpoints-1280.png`, fullPage: true });
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(`${sidecar.url}/admin`);
      await axe('network overview, phone');
      await page.screenshot({ path: `${SCREENS}/network/overview-390.png`, fullPage: true });
    } finally {
      await browser.close();
    }
  });

  it('labels per-site figures on /metrics by blog id, never by domain', async () => {
    const text = await (await fetch(`${sidecar.url}/metrics`)).text();
    expect(text).to.match(/webhooks_deliveries_pending\{blog_id="1"\} \d+/);
    expect(text).to.match(/webhooks_deliveries_pending\{blog_id="2"\} \d+/);
    expect(text).to.match(
      new RegExp(
        `webhooks_deliveries_total\\{outcome="succeeded",endpoint_id="${endpoints[2]!.id}",blog_id="2"\\} [1-9]`,
      ),
    );
    expect(text).not.to.contain('localhost/site2');
  });

  it('signs in with the sidecar password as a network administrator too', async () => {
    const c = new Client(sidecar.url);
    expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
    expect((await c.get('/admin')).status).to.equal(200);
    expect((await api('GET', '/sites/2/api/endpoints', undefined, API_TOKEN)).status).to.equal(200);
  });
  it('NETWORK=true on a database with no network stops the start with one line naming NETWORK', async () => {
    const plain = await createTestDb('nonetwork');
    try {
      const err = await startSidecar(loadConfig(testEnv(plain.url, { NETWORK: 'true' })), silentLogger, {
        print: () => {},
      }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(ConfigError);
      expect((err as ConfigError).variable).to.equal('NETWORK');
      expect((err as Error).message).to.equal(
        "NETWORK is on but wp_blogs does not exist: this database holds no WordPress network whose tables start with wp_. Set TABLE_PREFIX to the network's base prefix, or NETWORK=false to serve one site",
      );
    } finally {
      await plain.drop();
    }
  });

  it("one site's backlog does not hold back another site's events", async () => {
    // The main site's receiver stops answering, with 1,500 events waiting for it: every request the
    // main site may have in flight hangs, and the rest of its backlog stays due.
    receivers[1]!.respond(() => ({ hang: true }));
    const values = Array.from({ length: 1500 }, (_, i) => ['course.updated', JSON.stringify({ course_id: i })]);
    await db.get().pool.query('INSERT INTO wp_webhook_outbox (event_type, payload) VALUES ?', [values]);
    const sent = receivers[1]!.received.length;
    await waitFor("the main site's backlog being sent", () => receivers[1]!.received.length > sent);
    const before = receivers[2]!.received.length;
    await runLms(wpConfig, {
      blog_id: 2,
      business_table: 'wp_2_lms_enrollments',
      events: [{ type: 'enrollment.created', data: { student_id: 'two_3', course_id: 9 } }],
    });
    await waitFor("site 2's event delivered", () =>
      receivers[2]!.received.slice(before).some((r) => r.raw.toString().includes('two_3')),
    );
    const [[main]] = await db.get().pool.query<RowDataPacket[]>(
      `SELECT (SELECT COUNT(*) FROM wp_webhook_deliveries WHERE event_type = 'course.updated' AND status = 'succeeded') AS done,
                (SELECT COUNT(*) FROM wp_webhook_deliveries WHERE event_type = 'course.updated') +
                (SELECT COUNT(*) FROM wp_webhook_outbox WHERE event_type = 'course.updated' AND fanned_out_at IS NULL) AS waiting`,
    );
    // Site 2's event went out while none of the main site's backlog could.
    expect([Number(main!.done), Number(main!.waiting)]).to.deep.equal([0, 1500]);
  });
});
