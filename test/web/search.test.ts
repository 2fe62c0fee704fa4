/**
 * Finding one student's webhooks: ?data.<path>=<value> on the log (API and
 * page), answered from the event_terms index, combined with the other filters.
 */
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2/promise';
import { insertOutbox, useTestDb } from '../support/db.js';
import { ADMIN_PASSWORD, useSidecar } from '../support/sidecar.js';
import { Client } from '../support/browserless.js';
import { waitFor } from '../support/wait.js';
import { tableNames } from '../../src/db/tables.js';
import { searchTerm } from '../../src/db/events.js';
import {
  COMMON_VALUE,
  countDeliveries,
  listDeliveries,
  payloadPlan,
  type DeliveryFilter,
} from '../../src/db/deliveryLog.js';

describe('searching deliveries by payload', function () {
  this.timeout(30_000);
  const db = useTestDb('search');
  const fx = useSidecar(db);

  before(async () => {
    const r = await fx.receiver();
    await fx.endpoint(`${r.url}/hook`, ['enrollment.*', 'order.*']);
    await insertOutbox(db.get().pool, [
      { type: 'enrollment.created', payload: { student_id: 'student_42', course_id: 'c1' } },
      { type: 'enrollment.completed', payload: { student_id: 'student_42', course_id: 'c1', grade: 92 } },
      { type: 'enrollment.created', payload: { student_id: 'student_7', course_id: 'c1' } },
      { type: 'order.created', payload: { student: { id: 'student_42' }, total: 4900 } },
    ]);
    await waitFor('delivered', () => r.received.length === 4);
  });

  const types = (list: { event_type: string }[]) => list.map((d) => d.event_type).sort();

  it("finds the same deliveries whichever plan a value's frequency picks: read the matches first, or walk the log", async () => {
    const { pool } = db.get();
    const t = tableNames('wp_');
    const cases: DeliveryFilter[] = [
      { data: [['data.student_id', 'student_42']], limit: 50 },
      {
        data: [
          ['data.course_id', 'c1'],
          ['data.student_id', 'student_42'],
        ],
        limit: 50,
      },
      { data: [['data.course_id', 'c1']], eventType: 'enrollment.*', limit: 2 },
      { data: [['data.student_id', 'student_42']], createdFrom: new Date(Date.now() - 3600_000), limit: 50 },
      { data: [['data.student_id', 'nobody']], limit: 50 },
    ];
    for (const f of cases) {
      const lookup = await listDeliveries(pool, t, { ...f, dataPlan: 'lookup' });
      const walk = await listDeliveries(pool, t, { ...f, dataPlan: 'walk' });
      expect(
        walk.map((d) => d.id),
        JSON.stringify(f),
      ).to.deep.equal(lookup.map((d) => d.id));
      expect((await countDeliveries(pool, t, { ...f, dataPlan: 'walk' }, 100)).count).to.equal(
        (await countDeliveries(pool, t, { ...f, dataPlan: 'lookup' }, 100)).count,
      );
    }
    expect((await listDeliveries(pool, t, { ...cases[0]!, dataPlan: 'walk' })).length).to.equal(2);
    // A value carried by few events is looked up first; the probe reads at most COMMON_VALUE + 1 index entries.
    expect(await payloadPlan(pool, t, [['data.student_id', 'student_42']])).to.equal('lookup');
    const common = Array.from({ length: COMMON_VALUE + 1 }, (_, i) => [
      1_000_000 + i,
      searchTerm('data.course_id', 'common'),
    ]);
    await pool.query('INSERT INTO wp_webhook_event_terms (event_pk, term) VALUES ?', [common]);
    expect(await payloadPlan(pool, t, [['data.course_id', 'common']])).to.equal('walk');
    expect(
      await payloadPlan(pool, t, [
        ['data.course_id', 'common'],
        ['data.student_id', 'student_42'],
      ]),
    ).to.equal('lookup');
    await pool.query('DELETE FROM wp_webhook_event_terms WHERE event_pk >= 1000000');
  });

  it('filters the API log by a payload field, nested or numeric, with the other filters', async () => {
    const q = async (query: string) => {
      const res = await fx.api('GET', `/api/deliveries?${query}`);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      return res.body.data;
    };
    expect(types(await q('data.student_id=student_42'))).to.deep.equal(['enrollment.completed', 'enrollment.created']);
    expect(types(await q('data.student_id=student_42&event_type=enrollment.created'))).to.deep.equal([
      'enrollment.created',
    ]);
    expect(types(await q('data.student.id=student_42'))).to.deep.equal(['order.created']);
    expect(types(await q('data.grade=92'))).to.deep.equal(['enrollment.completed']);
    // Event types take wildcards as subscriptions do.
    expect(types(await q('event_type=enrollment.*'))).to.deep.equal([
      'enrollment.completed',
      'enrollment.created',
      'enrollment.created',
    ]);
    expect(types(await q('event_type=enrollment.*&data.student_id=student_42'))).to.deep.equal([
      'enrollment.completed',
      'enrollment.created',
    ]);
    expect(await q('event_type=enroll.*')).to.deep.equal([]);
    expect(await q('event_type=*')).to.have.length(4);
    expect(types(await q('data.course_id=c1&data.student_id=student_7'))).to.deep.equal(['enrollment.created']);
    expect(await q('data.student_id=student_4')).to.deep.equal([]);
    const bad = await fx.api('GET', '/api/deliveries?student_id=student_42');
    expect(bad.status).to.equal(400);
    expect(bad.body.error.message).to.contain(
      'student_id is not a filter; payload filters look like data.student_id=student_42',
    );
  });

  it('lists the catalog with descriptions and examples, and the other types seen', async () => {
    await insertOutbox(db.get().pool, [{ type: 'badge.awarded', payload: { badge: 'gold' } }]);
    await waitFor('fanned out', async () => (await fx.api('GET', '/api/event-types')).body.seen.length === 1);
    const body = (await fx.api('GET', '/api/event-types')).body;
    expect(body.seen).to.deep.equal([{ type: 'badge.awarded' }]);
    const created = body.data.find((e: { type: string }) => e.type === 'enrollment.created');
    expect(created).to.deep.include({
      group: 'enrollment',
      description: 'a student was enrolled in a course (by an order, a subscription or an admin)',
    });
    expect(created.example).to.include({ student_id: 'student_xyz789' });
    for (const e of body.data) expect(e.description, e.type).to.not.equal('');
    const c = new Client(fx.sidecar.url);
    expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
    expect((await c.get('/admin/endpoints/new')).text).to.contain(
      '<code>quiz.submitted</code> <span class="hint">a student submitted a quiz, with the score</span>',
    );
  });

  it('takes "data.student_id=student_42" in the log page\'s payload box', async () => {
    const c = new Client(fx.sidecar.url);
    expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
    const page = (await c.get('/admin/deliveries?payload=data.student_id%3Dstudent_42')).text;
    expect(page.match(/<code>enrollment\.[a-z]+<\/code>/g)?.sort()).to.deep.equal([
      '<code>enrollment.completed</code>',
      '<code>enrollment.created</code>',
    ]);
    expect(page).to.contain('value="data.student_id=student_42"');
    const wild = (await c.get('/admin/deliveries?event_type=order.*')).text;
    expect(wild.match(/<code>[a-z]+\.[a-z]+<\/code>/g)).to.deep.equal(['<code>order.created</code>']);
    const bad = await c.get('/admin/deliveries?payload=student_42');
    expect(bad.status).to.equal(400);
    expect(bad.text).to.contain('payload filters look like data.student_id=student_42');
  });

  it('the dashboard counts what is true now, links each tile to the log, and shows rejected outbox rows', async () => {
    await insertOutbox(db.get().pool, [{ type: 'order.created', payload: '{not json' }]);
    await waitFor('rejected', async () => {
      const [[r]] = await db
        .get()
        .pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM wp_webhook_outbox WHERE rejected_reason IS NOT NULL');
      return Number(r!.n) === 1;
    });
    const c = new Client(fx.sidecar.url);
    expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
    const page = (await c.get('/admin')).text;
    expect(page).to.match(
      /<a class="tile" href="\/admin\/events\?rejected=1"><span class="tile__label">Outbox rows rejected \(24 h\)<\/span><span class="tile__value tile__value--bad">1<\/span><\/a>/,
    );
    expect(page).to.match(
      /<a class="tile" href="\/admin\/deliveries\?status=succeeded"><span class="tile__label">Succeeded \(24 h\)<\/span><span class="tile__value">4<\/span>/,
    );
    expect(page).to.match(
      /<a class="tile" href="\/admin\/deliveries\?status=pending"><span class="tile__label">Pending now<\/span><span class="tile__value">0<\/span>/,
    );
  });
});
