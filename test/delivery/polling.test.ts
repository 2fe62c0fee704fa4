/**
 * Polling endpoints: a receiver that cannot take inbound requests pulls its
 * events. A poller that crashes before saving its cursor and resumes gets
 * every event, in order, none skipped, each verifiable as a push; moving past
 * acknowledges; its key reaches nothing else; an endpoint nobody polls is
 * reported like a failing one, and its next poll reports the recovery.
 */
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2/promise';
import { insertOutbox, useTestDb } from '../support/db.js';
import { ADMIN_PASSWORD, useSidecar } from '../support/sidecar.js';
import { SCREENS, useAdminPage } from '../support/browser.js';
import { waitFor } from '../support/wait.js';
import { verifyWebhook } from '../../src/verify.js';

describe('polling endpoints', function () {
  this.timeout(60_000);
  const db = useTestDb('polling');
  const fx = useSidecar(db);
  const { api } = fx;
  let endpoint: { id: number; secret: string };
  let key: string;

  before(async () => {
    const res = await api('POST', '/api/endpoints', {
      type: 'polling',
      events: ['order.*'],
      description: 'Campus ERP',
    });
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    endpoint = res.body;
    key = (await fx.sidecar.service.createApiKey('ERP poller', `poll:${endpoint.id}`)).key;
  });

  it('a poller that crashes and resumes from its last cursor gets every event, in order, none skipped, each verifiable', async () => {
    const N = 230;
    await insertOutbox(
      db.get().pool,
      Array.from({ length: N }, (_, n) => ({ type: 'order.created', payload: { n } })),
    );
    let saved = '0'; // the poller's durable cursor
    const seen: number[] = [];
    let pages = 0;
    let crashed = false;
    await waitFor(
      'every event polled',
      async () => {
        const res = await api('GET', `/api/poll/${endpoint.id}?after=${saved}&limit=40`, undefined, key);
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
        const items = res.body.data as { cursor: string; headers: Record<string, string>; body: string }[];
        const ns = items.map((i) => (verifyWebhook(endpoint.secret, i.body, i.headers).data as { n: number }).n);
        // Each page follows the saved cursor without a gap, in order.
        if (ns.length)
          expect(ns[0], 'the page starts right after the cursor').to.equal(seen.length ? seen.at(-1)! + 1 : 0);
        for (let i = 1; i < ns.length; i++) expect(ns[i]).to.equal(ns[i - 1]! + 1);
        pages++;
        if (pages === 3 && !crashed) {
          // Processed, then crashed before saving the cursor: the next poll starts from the old one.
          crashed = true;
          return false;
        }
        seen.push(...ns);
        saved = res.body.next_cursor;
        return seen.length === N && !res.body.has_more;
      },
      30_000,
      20,
    );
    expect(seen).to.deep.equal(Array.from({ length: N }, (_, n) => n));
    expect(crashed).to.equal(true);

    // Moving past acknowledges: all but nothing is pending once the last cursor is sent back.
    const count = async (status: string) => {
      const [[r]] = await db
        .get()
        .pool.query<RowDataPacket[]>(
          'SELECT COUNT(*) AS n FROM wp_webhook_deliveries WHERE endpoint_id = ? AND status = ?',
          [endpoint.id, status],
        );
      return Number(r!.n);
    };
    expect(
      await count('pending'),
      'the last page is not acknowledged until the cursor moves past it',
    ).to.be.greaterThan(0);
    const last = await api('GET', `/api/poll/${endpoint.id}?after=${saved}`, undefined, key);
    expect(last.body).to.deep.equal({ data: [], next_cursor: saved, has_more: false });
    expect(await count('succeeded')).to.equal(N);
    expect(await count('pending')).to.equal(0);
    // Nothing was ever pushed.
    const [[attempts]] = await db.get().pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM wp_webhook_attempts');
    expect(Number(attempts!.n)).to.equal(0);
  });

  it('its key polls only its endpoint; a pushed endpoint cannot be polled', async () => {
    expect((await api('GET', '/api/endpoints', undefined, key)).status).to.equal(403);
    const other = await fx.endpoint('https://example.com/hook', ['order.created']);
    const wrong = await api('GET', `/api/poll/${other.id}`, undefined, key);
    expect(wrong.status).to.equal(403);
    expect(wrong.body.error.message).to.match(
      new RegExp(`scope is poll:${endpoint.id}, which allows only polling that endpoint`),
    );
    const pushed = await api('GET', `/api/poll/${other.id}`);
    expect(pushed.status).to.equal(400);
    expect(pushed.body.error.message).to.match(/is not a polling endpoint \(type webhook\)/);
    expect((await api('GET', `/api/poll/${endpoint.id}?limit=0`)).status).to.equal(400);
    // A poll scope names a polling endpoint.
    let refused = '';
    await fx.sidecar.service.createApiKey('wrong', `poll:${other.id}`).catch((e: Error) => (refused = e.message));
    expect(refused).to.match(/names no polling endpoint \(endpoint \d+ is of type webhook\)/);
    await api('DELETE', `/api/endpoints/${other.id}`);
  });

  it('is reported failing when nobody polls it for the failing window, and recovered by its next poll', async () => {
    await insertOutbox(db.get().pool, [{ type: 'order.refunded', payload: { n: 'late' } }]);
    await waitFor('fanned out', async () => {
      const [[r]] = await db
        .get()
        .pool.query<RowDataPacket[]>(
          "SELECT COUNT(*) AS n FROM wp_webhook_deliveries WHERE endpoint_id = ? AND status = 'pending'",
          [endpoint.id],
        );
      return Number(r!.n) === 1;
    });
    // As if the poller had been gone for two hours.
    await db
      .get()
      .pool.query(
        "UPDATE wp_webhook_deliveries SET created_at = NOW(3) - INTERVAL 2 HOUR WHERE endpoint_id = ? AND status = 'pending'",
        [endpoint.id],
      );
    await db
      .get()
      .pool.query('UPDATE wp_webhook_endpoints SET last_polled_at = NOW(3) - INTERVAL 2 HOUR WHERE id = ?', [
        endpoint.id,
      ]);
    await fx.sidecar.dispatcher.sweep();
    const failing = (await api('GET', `/api/endpoints/${endpoint.id}`)).body;
    expect(failing.failing_since).to.be.a('string');
    const events = async (type: string) => {
      const [r] = await db
        .get()
        .pool.query<RowDataPacket[]>('SELECT body FROM wp_webhook_events WHERE event_type = ?', [type]);
      return r.map((x) => JSON.parse(String(x.body)) as { data: { endpoint_id: number } });
    };
    expect((await events('webhook.endpoint_failing')).map((e) => e.data.endpoint_id)).to.deep.equal([endpoint.id]);

    const page = await api('GET', `/api/poll/${endpoint.id}?after=0`, undefined, key);
    expect(page.status).to.equal(200);
    expect((await api('GET', `/api/endpoints/${endpoint.id}`)).body.failing_since).to.equal(null);
    expect((await events('webhook.endpoint_recovered')).map((e) => e.data.endpoint_id)).to.deep.equal([endpoint.id]);
  });

  describe('on the endpoint page', () => {
    const ui = useAdminPage(() => fx.sidecar.url, ADMIN_PASSWORD);

    it('shows when it was last polled and how far behind it is', async () => {
      const { page } = ui;
      await ui.signIn();
      await page.goto(`${fx.sidecar.url}/admin/endpoints/${endpoint.id}`);
      expect(await page.textContent('#poll-last')).to.match(
        /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, by GET \/api\/poll\/\d+\?after=CURSOR/,
      );
      expect(await page.textContent('#poll-lag')).to.match(/^1 event not polled past yet, the oldest from /);
      await page.locator('#health').screenshot({ path: `${SCREENS}/32-polling-endpoint.png` });
    });
  });
});
