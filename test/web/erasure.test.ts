/**
 * Erasure on a real log: one student's payloads replaced everywhere they
 * are stored (events, outbox rows, attempts' stored answers and headers,
 * payload-search terms) while other students' events are untouched; counts
 * per table, a repeat that changes nothing, the record without values, the
 * confirmations, deliveries not sent yet cancelled or sent first, outbox rows
 * erased before fan-out, the student.deleted setting, and the page in Chromium.
 */
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2/promise';
import { insertOutbox, mysqldump, useTestDb } from '../support/db.js';
import { ADMIN_PASSWORD, FAST_RETRIES, apiClient, startInProcess, useSidecar } from '../support/sidecar.js';
import { SCREENS, useAdminPage } from '../support/browser.js';
import { waitFor } from '../support/wait.js';
import { searchableValues } from '../../src/db/events.js';

const ADA = { student_id: 'student_42', student_email: 'ada.erased@example.com', student_name: 'Ada Erasable' };
const BOB = { student_id: 'student_7', student_email: 'bob.kept@example.com', student_name: 'Bob Kept' };
const enrolment = (s: typeof ADA, n: number) => ({
  type: 'enrollment.created',
  payload: { enrollment_id: `enr_${s.student_id}_${n}`, course_id: 'course_1', school: 'north', ...s },
});

describe('erasure', function () {
  this.timeout(60_000);
  const db = useTestDb('erasure');
  const fx = useSidecar(db);
  const { api } = fx;

  before(async () => {
    expect((await api('PATCH', '/api/settings', FAST_RETRIES)).status).to.equal(200);
  });

  it("replaces one student's payloads in every stored copy, leaves the others, counts per table, and a repeat changes nothing", async () => {
    // The receivers answer with the body they got, so the attempts keep the payload too.
    const echo = await fx.receiver((req) => ({ status: 200, body: req.raw.toString('utf8') }));
    const plain = await fx.receiver();
    await fx.endpoint(`${echo.url}/crm`, ['enrollment.*', 'student.*']);
    await fx.endpoint(`${plain.url}/lms`, ['enrollment.*', 'student.*']);
    await insertOutbox(db.get().pool, [enrolment(ADA, 1), enrolment(BOB, 1), enrolment(ADA, 2), enrolment(BOB, 2)]);
    await insertOutbox(db.get().pool, [
      { type: 'student.updated', payload: { ...ADA, school: 'north', changed: ['email'] } },
    ]);
    await waitFor('10 deliveries', () => echo.received.length === 5 && plain.received.length === 5);
    await waitFor('all recorded', async () => {
      const r = await api('GET', '/api/deliveries?status=succeeded');
      return r.body.data.length === 10;
    });
    const before = await mysqldump(db.get().url, { dataOnly: true });
    expect(before).to.include(ADA.student_email);
    const adaTerms = [
      enrolment(ADA, 1),
      enrolment(ADA, 2),
      { payload: { ...ADA, school: 'north', changed: ['email'] } },
    ]
      .map((e) => searchableValues(JSON.stringify({ data: e.payload })).length)
      .reduce((a, b) => a + b, 0);

    // A condition that matches most of the log is more likely a mistake: it needs confirming.
    const broad = await api('POST', '/api/erasure', { where: { 'data.school': 'north' }, pending: 'cancel' });
    expect(broad.status).to.equal(400);
    expect(broad.body.error.code).to.equal('confirmation_required');
    expect(broad.body.error.message).to.match(
      /^data.school=north matches all 5 events in the log: a condition that broad/,
    );

    const res = await api('POST', '/api/erasure', { where: { 'data.student_id': 'student_42' }, pending: 'cancel' });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body).to.deep.include({
      status: 'done',
      pending: 'cancel',
      paths: ['data.student_id'],
      requested_by: 'API (API_TOKEN)',
      repeated: false,
    });
    expect(res.body.counts).to.deep.equal({
      events: 3,
      event_terms: adaTerms,
      outbox: 3,
      attempts: 6,
      deliveries_cancelled: 0,
    });

    // Nowhere in the database any more; the other student is all there.
    const after = await mysqldump(db.get().url, { dataOnly: true });
    for (const v of [ADA.student_email, ADA.student_name, 'student_42'])
      expect(after.includes(v), `${v} in the dump after the erasure`).to.equal(false);
    for (const v of [BOB.student_email, BOB.student_name, 'student_7'])
      expect(after.includes(v), `${v} in the dump after the erasure`).to.equal(true);
    expect((await api('GET', '/api/deliveries?data.student_id=student_42')).body.data).to.have.length(0);
    expect((await api('GET', '/api/deliveries?data.student_id=student_7')).body.data).to.have.length(4);

    // The log still adds up: ids, types, statuses and attempt outcomes stay; the payload is the marker.
    const log = (await api('GET', '/api/deliveries?event_type=enrollment.created&limit=50')).body.data as {
      id: number;
      status: string;
      event_id: string;
    }[];
    expect(log).to.have.length(8);
    expect(log.every((d) => d.status === 'succeeded')).to.equal(true);
    const erased: any[] = [];
    for (const d of log) {
      const one = (await api('GET', `/api/deliveries/${d.id}`)).body;
      expect(one.attempt_log).to.have.length(1);
      expect(one.attempt_log[0].status_code).to.equal(200);
      if (one.payload.data.erased) erased.push(one);
      else expect(one.payload.data.student_id).to.equal('student_7');
    }
    expect(erased).to.have.length(4);
    expect(erased[0].payload.data.erased.erasure_id).to.equal(res.body.id);
    expect(erased[0].payload.event).to.equal('enrollment.created');
    expect(echo.received.map((r) => r.json.id)).to.include(erased[0].event_id);
    const [outbox] = await db
      .get()
      .pool.query<RowDataPacket[]>(`SELECT payload FROM wp_webhook_outbox WHERE payload LIKE '%"erased"%'`);
    expect(outbox).to.have.length(3);

    // A repeat: the same record, nothing changed.
    const again = await api('POST', '/api/erasure', { where: { 'data.student_id': 'student_42' }, pending: 'cancel' });
    expect(again.status).to.equal(200);
    expect(again.body).to.deep.include({ id: res.body.id, repeated: true });
    expect(again.body.counts).to.deep.equal(res.body.counts);

    // The record names who, when and the paths; never the values.
    const list = (await api('GET', '/api/erasures')).body.data;
    expect(list).to.have.length(1);
    expect(JSON.stringify(list)).to.not.include('student_42');
    expect((await api('GET', `/api/erasures/${res.body.id}`)).body.completed_at).to.be.a('string');

    // A replay of an erased delivery sends nothing: the marker is not an event.
    const sent = echo.received.length + plain.received.length;
    const replay = await api('POST', `/api/deliveries/${erased[0].id}/replay`);
    expect(replay.status).to.equal(202);
    await waitFor(
      'replay ends',
      async () => (await api('GET', `/api/deliveries/${erased[0].id}`)).body.status === 'cancelled',
    );
    expect((await api('GET', `/api/deliveries/${erased[0].id}`)).body.last_error).to.match(
      new RegExp(`payload was erased \\(erasure ${res.body.id}\\)`),
    );
    expect(echo.received.length + plain.received.length).to.equal(sent);
  });

  it('refuses a condition that matches nothing without confirm, records it when confirmed, and names a bad one', async () => {
    const nothing = await api('POST', '/api/erasure', { where: { 'data.student_id': 'nobody' }, pending: 'cancel' });
    expect(nothing.status).to.equal(400);
    expect(nothing.body.error.code).to.equal('confirmation_required');
    expect(nothing.body.error.message).to.match(/^data.student_id=nobody matches no event/);
    const confirmed = await api('POST', '/api/erasure', {
      where: { 'data.student_id': 'nobody' },
      pending: 'cancel',
      confirm: true,
    });
    expect(confirmed.status).to.equal(200);
    expect(confirmed.body.counts.events).to.equal(0);

    const bad = await api('POST', '/api/erasure', { where: { student_id: 'x' }, pending: 'cancel' });
    expect(bad.status).to.equal(400);
    expect(bad.body.error.message).to.match(/where.student_id is not a payload condition/);
    const noPending = await api('POST', '/api/erasure', { where: { 'data.student_id': 'student_7' } });
    expect(noPending.status).to.equal(400);
    expect(noPending.body.error.message).to.match(/pending is required: "send" sends/);
    // Bob is untouched by all of it.
    expect((await api('GET', '/api/deliveries?data.student_id=student_7')).body.data).to.have.length(4);
  });

  it('cancels deliveries not sent yet, or sends them first and finishes on its own once they are', async () => {
    const failing = await fx.receiver(() => ({ status: 503 }));
    // Its retry is a minute away, so the delivery waits unclaimed when the erasure comes.
    await fx.endpoint(`${failing.url}/down`, ['quiz.submitted'], { retry_schedule_seconds: [60] });
    await insertOutbox(db.get().pool, [{ type: 'quiz.submitted', payload: { student_id: 'student_9', score: 1 } }]);
    // Recorded, not only received: until then the delivery is still claimed, and an erasure waits for it.
    await waitFor('a failed first attempt, recorded', async () => {
      const d = (await api('GET', '/api/deliveries?event_type=quiz.submitted')).body.data[0];
      return d?.attempts === 1 && d.status === 'pending';
    });
    const cancelled = await api('POST', '/api/erasure', {
      where: { 'data.student_id': 'student_9' },
      pending: 'cancel',
    });
    expect(cancelled.status).to.equal(200);
    expect(cancelled.body.counts).to.include({ events: 1, deliveries_cancelled: 1 });
    const d = (await api('GET', '/api/deliveries?event_type=quiz.submitted')).body.data[0];
    expect(d.status).to.equal('cancelled');
    expect(d.last_error).to.match(/cancelled by erasure \d+/);

    // Send first: the receiver is down for the first attempt, then takes it.
    let up = false;
    const flaky = await fx.receiver(() => ({ status: up ? 200 : 503 }));
    await fx.endpoint(`${flaky.url}/flaky`, ['lesson.completed']);
    await insertOutbox(db.get().pool, [
      { type: 'lesson.completed', payload: { student_id: 'student_8', lesson: 'l1' } },
    ]);
    await waitFor('a failed first attempt', () => flaky.received.length >= 1);
    const waiting = await api('POST', '/api/erasure', { where: { 'data.student_id': 'student_8' }, pending: 'send' });
    expect(waiting.status, JSON.stringify(waiting.body)).to.equal(202);
    expect(waiting.body).to.deep.include({ status: 'waiting', waiting_for: { deliveries: 1, outbox_rows: 0 } });
    up = true;
    await waitFor(
      'sent, then erased by the loop',
      async () => {
        const e = (await api('GET', `/api/erasures/${waiting.body.id}`)).body;
        return e.status === 'done';
      },
      20_000,
    );
    expect(flaky.received.at(-1)!.json.data).to.deep.equal({ student_id: 'student_8', lesson: 'l1' });
    const e = (await api('GET', `/api/erasures/${waiting.body.id}`)).body;
    expect(e.counts).to.include({ events: 1, deliveries_cancelled: 0 });
    expect((await api('GET', '/api/deliveries?event_type=lesson.completed')).body.data[0].status).to.equal('succeeded');
  });

  it("erases a deleted student's payloads once student.deleted reached every endpoint, when the setting is on", async () => {
    const r = await fx.receiver();
    await fx.endpoint(r.url, ['student.*', 'certificate.issued']);
    await insertOutbox(db.get().pool, [
      { type: 'certificate.issued', payload: { student_id: 'student_55', student_email: 'gone@example.com' } },
      { type: 'certificate.issued', payload: { student_id: 'student_56', student_email: 'stays@example.com' } },
      { type: 'student.deleted', payload: { student_id: 'student_55', deleted_at: '2026-12-01T00:00:00Z' } },
    ]);
    await waitFor('delivered', () => r.received.length === 3);
    await waitFor('recorded', async () => {
      const list = (await api('GET', '/api/deliveries?event_type=student.deleted')).body.data;
      // student.deleted also reaches the first test's two endpoints (student.*).
      return list.length === 3 && list.every((d: { status: string }) => d.status === 'succeeded');
    });
    // Off (the default): nothing happens.
    expect(await fx.sidecar.service.runErasures({ followDeletedStudents: true })).to.equal(0);
    expect((await api('PATCH', '/api/settings', { erase_after_student_deleted_days: 0 })).status).to.equal(200);
    expect(await fx.sidecar.service.runErasures({ followDeletedStudents: true })).to.equal(1);
    expect(await fx.sidecar.service.runErasures({ followDeletedStudents: true }), 'followed once').to.equal(0);
    const e = (await api('GET', '/api/erasures')).body.data[0];
    expect(e.requested_by).to.match(/^automatic: 0 days after student.deleted was delivered/);
    expect(e.counts).to.include({ events: 2 });
    expect((await api('GET', '/api/deliveries?data.student_id=student_55')).body.data).to.have.length(0);
    expect((await api('GET', '/api/deliveries?data.student_id=student_56')).body.data).to.have.length(1);
    await api('PATCH', '/api/settings', { erase_after_student_deleted_days: null });
  });

  describe('before fan-out', () => {
    const db2 = useTestDb('erasureoutbox');

    it('erases matching outbox rows not fanned out yet: rejected with the reason, never delivered', async () => {
      const sidecar = await startInProcess(db2.get().url, {}, { loop: false });
      try {
        await insertOutbox(db2.get().pool, [
          { type: 'order.created', payload: { student_id: 'student_3', order_id: 'o1' } },
          { type: 'order.created', payload: { student_id: 'student_4', order_id: 'o2' } },
        ]);
        const res = await apiClient(sidecar.url)('POST', '/api/erasure', {
          where: { 'data.student_id': 'student_3' },
          pending: 'cancel',
        });
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
        expect(res.body.counts).to.deep.equal({
          events: 0,
          event_terms: 0,
          outbox: 1,
          attempts: 0,
          deliveries_cancelled: 0,
        });
        const [rows] = await db2
          .get()
          .pool.query<RowDataPacket[]>(
            'SELECT payload, fanned_out_at, rejected_reason FROM wp_webhook_outbox ORDER BY id',
          );
        expect(rows[0]!.rejected_reason).to.equal(`erased (erasure ${res.body.id})`);
        expect(rows[0]!.fanned_out_at).to.not.equal(null);
        expect(String(rows[0]!.payload)).to.not.include('student_3');
        expect(rows[1]!.fanned_out_at).to.equal(null);
        expect(String(rows[1]!.payload)).to.include('student_4');
      } finally {
        await sidecar.stop();
      }
    });
  });

  describe('the page', () => {
    const ui = useAdminPage(() => fx.sidecar.url, ADMIN_PASSWORD);

    it('erases from the form, asks to confirm a condition that matches nothing, and lists the record', async () => {
      const { page } = ui;
      await ui.signIn();
      await page.click('nav >> text=Erasure');
      expect(await page.textContent('h1')).to.equal('Erasure');
      await page.fill('#condition', 'student_id=student_7');
      await page.click('button:has-text("Erase")');
      expect(await page.locator('#condition-error').textContent()).to.match(/not a payload condition/);
      await page.fill('#condition', 'data.student_id=nobody-at-all');
      await page.click('button:has-text("Erase")');
      expect(await page.locator('[role=alert]').first().textContent()).to.match(/matches no event/);
      await page.fill('#condition', 'data.student_id=student_7');
      await page.selectOption('#pending', 'cancel');
      await page.click('button:has-text("Erase")');
      expect(await page.locator('.notice--success').textContent()).to.match(
        /Erasure \d+ done: 2 events, 2 outbox rows, 4 attempts/,
      );
      const row = page.locator('table.list tbody tr').first();
      expect(await row.textContent()).to.match(/admin page \(admin\)/);
      expect(await row.textContent()).to.match(/data\.student_id/);
      expect(await page.content()).to.not.include('student_7<');
      await page.screenshot({ path: `${SCREENS}/30-erasure.png`, fullPage: true });
    });
  });
});
