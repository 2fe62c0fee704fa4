/**
 * One bad outbox row never stops the others. Each kind of bad row is written
 * the way an LMS could write it (into an outbox the LMS created itself, with
 * wider columns than ours and no keys of ours), followed by 100 normal rows
 * that must all arrive exactly once, with the endpoint never marked failing.
 */
import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2/promise';
import { useTestDb } from '../support/db.js';
import { ADMIN_PASSWORD, useSidecar } from '../support/sidecar.js';
import type { Receiver } from '../support/receiver.js';
import { Client } from '../support/browserless.js';
import { waitFor } from '../support/wait.js';

interface BadRow {
  type: string;
  payload: string;
  eventId?: string | null;
  occurredAt?: string | null;
}

interface Case {
  name: string;
  rows: BadRow[];
  /** Per bad row: a pattern its rejected_reason must match, or null when it must be accepted. */
  expect: (RegExp | null)[];
  /** A pattern the accepted row's fanout_note must match. */
  note?: RegExp;
}

describe('outbox rows of every bad kind', function () {
  this.timeout(60_000);
  const db = useTestDb('badrows');
  // The LMS made the outbox before the sidecar ever ran: only the contract's
  // columns, wider than ours, no unique key. Created before the sidecar starts.
  before(async () => {
    await db.get().pool.query(`CREATE TABLE wp_webhook_outbox (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
      event_type VARCHAR(255) NOT NULL,
      payload LONGTEXT NOT NULL,
      event_id VARCHAR(255) NULL,
      occurred_at DATETIME(3) NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  });
  const fx = useSidecar(db);
  let receiver: Receiver;
  let endpointId: number;

  before(async () => {
    await fx.api('PATCH', '/api/settings', { max_payload_bytes: 4096 });
    receiver = await fx.receiver();
    endpointId = (await fx.endpoint(receiver.url, ['*'])).id;
  });

  /** Writes rows as an old host's LMS would: a session without NO_ZERO_DATE or strict mode. */
  async function lmsInsert(rows: BadRow[]): Promise<void> {
    const conn = await db.get().pool.getConnection();
    try {
      await conn.query("SET SESSION sql_mode = ''");
      for (const r of rows) {
        await conn.query(
          'INSERT INTO wp_webhook_outbox (event_type, payload, event_id, occurred_at) VALUES (?, ?, ?, ?)',
          [r.type, r.payload, r.eventId ?? null, r.occurredAt ?? null],
        );
      }
    } finally {
      conn.release();
    }
  }

  const normal = (name: string, n = 100): BadRow[] =>
    Array.from({ length: n }, (_, i) => ({ type: 'order.created', payload: JSON.stringify({ case: name, i }) }));

  const cases: Case[] = [
    {
      name: 'zero occurred_at',
      rows: [{ type: 'order.zero', payload: '{}', occurredAt: '0000-00-00 00:00:00' }],
      expect: [null],
      note: /^occurred_at "0000-00-00 00:00:00.000" is not a real time; the insertion time was used instead$/,
    },
    {
      name: 'duplicate ids in one batch',
      rows: [
        { type: 'order.dup', payload: '{"first":true}', eventId: 'evt_dup_batch' },
        { type: 'order.dup', payload: '{"first":false}', eventId: 'evt_dup_batch' },
      ],
      expect: [null, /^event_id "evt_dup_batch" was already used by outbox row \d+ \(ids compare in any letter case\)/],
    },
    {
      name: 'duplicate id across batches',
      rows: [{ type: 'order.dup', payload: '{}', eventId: 'evt_dup_batch' }],
      expect: [/^event_id "evt_dup_batch" was already used by an earlier event/],
    },
    {
      name: 'ids differing in letter case',
      rows: [
        { type: 'order.case', payload: '{}', eventId: 'evt_Case_A' },
        { type: 'order.case', payload: '{}', eventId: 'EVT_case_a' },
      ],
      expect: [null, /^event_id "EVT_case_a" was already used by outbox row \d+/],
    },
    {
      name: 'case variant of a past id',
      rows: [{ type: 'order.case', payload: '{}', eventId: 'evt_DUP_BATCH' }],
      expect: [/^event_id "evt_DUP_BATCH" was already used by an earlier event \("evt_dup_batch"/],
    },
    {
      name: 'over-long id',
      rows: [{ type: 'order.long', payload: '{}', eventId: 'e'.repeat(100) }],
      expect: [/^event_id is 100 characters; at most 64 fit$/],
    },
    {
      name: 'over-long type',
      rows: [{ type: 't'.repeat(200), payload: '{}' }],
      expect: [/^event_type is 200 characters; at most 191 fit$/],
    },
    {
      name: 'emoji type',
      rows: [{ type: 'order.🎉', payload: '{}' }],
      expect: [
        /^event_type "order.🎉" has a character outside printable ASCII \(U\+1F389\) at position 7; it is sent in the X-Webhook-Event header/,
      ],
    },
    {
      name: 'control character in type',
      rows: [{ type: 'order.\u0001created', payload: '{}' }],
      expect: [/^event_type .* has a control character \(U\+0001\) at position 7/],
    },
    {
      name: 'emoji id',
      rows: [{ type: 'order.created', payload: '{}', eventId: 'evt_🎉' }],
      expect: [/^event_id "evt_🎉" has a character outside printable ASCII/],
    },
    {
      name: 'non-JSON payload',
      rows: [{ type: 'order.created', payload: "{'single': 'quotes'}" }],
      expect: [/^payload is not valid JSON/],
    },
    {
      name: 'oversized payload',
      rows: [{ type: 'order.created', payload: JSON.stringify({ s: 'x'.repeat(5000) }) }],
      expect: [/^payload is \d+ bytes, over the max_payload_bytes limit of 4096$/],
    },
  ];

  for (const c of cases) {
    it(`${c.name}: stamped with its reason, and the 100 rows after it arrive exactly once`, async () => {
      const [[before]] = await db
        .get()
        .pool.query<RowDataPacket[]>('SELECT COALESCE(MAX(id), 0) AS id FROM wp_webhook_outbox');
      await lmsInsert([...c.rows, ...normal(c.name)]);
      await waitFor(
        `the 100 rows after "${c.name}"`,
        () => receiver.received.filter((r) => (r.json.data as { case?: string })?.case === c.name).length >= 100,
        20_000,
      );
      const [rows] = await db
        .get()
        .pool.query<RowDataPacket[]>(
          'SELECT id, fanned_out_at, rejected_reason, fanout_note FROM wp_webhook_outbox WHERE id > ? ORDER BY id LIMIT ?',
          [Number(before!.id), c.rows.length],
        );
      c.expect.forEach((want, i) => {
        const row = rows[i]!;
        expect(row.fanned_out_at, `${c.name} row ${i} stamped`).to.not.equal(null);
        if (want) expect(row.rejected_reason, `${c.name} row ${i}`).to.match(want);
        else expect(row.rejected_reason, `${c.name} row ${i}`).to.equal(null);
      });
      if (c.note) expect(rows[0]!.fanout_note).to.match(c.note);
    });
  }

  it('rejects a row the database itself refuses (a trigger), alone, and delivers the rest of its batch', async () => {
    // A real refusal from the database for one row, whatever our own checks say.
    await db.get().pool.query(`CREATE TRIGGER wp_refuse_boom BEFORE INSERT ON wp_webhook_events FOR EACH ROW
      BEGIN IF NEW.event_type = 'order.boom' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'order.boom is refused by a trigger'; END IF; END`);
    try {
      const rows = normal('trigger', 50);
      await lmsInsert([...rows, { type: 'order.boom', payload: '{}' }, ...normal('trigger-after', 50)]);
      await waitFor(
        'both halves delivered',
        () =>
          receiver.received.filter((r) => /^trigger/.test(String((r.json.data as { case?: string })?.case))).length >=
          100,
        20_000,
      );
      const [[boom]] = await db
        .get()
        .pool.query<RowDataPacket[]>(
          "SELECT fanned_out_at, rejected_reason FROM wp_webhook_outbox WHERE event_type = 'order.boom'",
        );
      expect(boom!.fanned_out_at).to.not.equal(null);
      expect(boom!.rejected_reason).to.equal('the database refused this row: order.boom is refused by a trigger');
    } finally {
      await db.get().pool.query('DROP TRIGGER wp_refuse_boom');
    }
  });

  it('fails at once, not retried and not against the endpoint, a delivery whose header it cannot build (an event from before these checks)', async () => {
    // As an older version fanned it out: an emoji type, already an event with a pending delivery.
    await db
      .get()
      .pool.query(
        'INSERT INTO wp_webhook_events (event_id, event_type, body, occurred_at) VALUES (\'evt_legacy_emoji\', \'order.🎉\', \'{"id":"evt_legacy_emoji","event":"order.🎉","created_at":"2025-01-01T00:00:00Z","data":{}}\', NOW(3))',
      );
    await db
      .get()
      .pool.query(
        "INSERT INTO wp_webhook_deliveries (endpoint_id, event_pk, event_type, status, next_attempt_at) SELECT ?, id, event_type, 'pending', NOW(3) FROM wp_webhook_events WHERE event_id = 'evt_legacy_emoji'",
        [endpointId],
      );
    const list = await waitFor('the delivery failed', async () => {
      const r = await fx.api('GET', '/api/deliveries?event_id=evt_legacy_emoji');
      return r.body.data.filter((d: { status: string }) => d.status === 'failed');
    });
    expect(list[0].attempts).to.equal(1);
    expect(list[0].last_error).to.match(
      /^internal: the sidecar could not build this request, so it was not sent: the x-webhook-event header value "order.🎉" has characters HTTP headers cannot carry/,
    );
    expect(receiver.received.some((r) => r.json.id === 'evt_legacy_emoji')).to.equal(false);
    expect((await fx.api('GET', `/api/endpoints/${endpointId}`)).body.failing_since).to.equal(null);
  });

  it('stamped every row, sent every accepted one exactly once, never marked the endpoint failing, and shows the reasons', async () => {
    const [[waiting]] = await db
      .get()
      .pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM wp_webhook_outbox WHERE fanned_out_at IS NULL');
    expect(Number(waiting!.n)).to.equal(0);
    const ids = receiver.received.map((r) => r.json.id);
    expect(new Set(ids).size, 'no event twice').to.equal(ids.length);
    const [[accepted]] = await db
      .get()
      .pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM wp_webhook_outbox WHERE rejected_reason IS NULL');
    await waitFor('every accepted row received', () => receiver.received.length === Number(accepted!.n));
    const endpoint = (await fx.api('GET', `/api/endpoints/${endpointId}`)).body;
    expect(endpoint.failing_since).to.equal(null);
    expect(endpoint.enabled).to.equal(true);

    const c = new Client(fx.sidecar.url);
    expect((await c.login(ADMIN_PASSWORD)).status).to.equal(303);
    const page = await c.get('/admin/events?rejected=1');
    expect(page.status).to.equal(200);
    expect(page.text).to.contain('event_id is 100 characters; at most 64 fit');
    expect(page.text).to.contain('the database refused this row: order.boom is refused by a trigger');
    const [[zero]] = await db
      .get()
      .pool.query<RowDataPacket[]>("SELECT id FROM wp_webhook_outbox WHERE event_type = 'order.zero'");
    const all = await c.get(`/admin/events?before=${Number(zero!.id) + 1}`);
    expect(all.text).to.match(/is not a real time; the insertion time was used instead/);
  });
});

describe('outbox guarantees toward the LMS', function () {
  this.timeout(30_000);
  const db = useTestDb('outboxkeys');

  it('drops the unique key on event_id that earlier versions made, so a reused id never fails the LMS INSERT', async () => {
    const { migratedPool } = await import('../support/db.js');
    // An outbox as version 1 left it: with uq_event_id.
    await db.get().pool.query(`CREATE TABLE wp_webhook_outbox (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, event_type VARCHAR(191) NOT NULL, payload LONGTEXT NOT NULL,
      event_id VARCHAR(64) NULL, occurred_at DATETIME(3) NULL, created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      fanned_out_at DATETIME(3) NULL, rejected_reason VARCHAR(500) NULL, delivery_count INT UNSIGNED NULL,
      UNIQUE KEY uq_event_id (event_id), KEY idx_fanned_out (fanned_out_at, id)) ENGINE=InnoDB`);
    const { pool } = await migratedPool(db.get().url);
    await pool.end();
    const insert =
      "INSERT INTO wp_webhook_outbox (event_type, payload, event_id) VALUES ('order.created', '{}', 'evt_same')";
    await db.get().pool.query(insert);
    await db.get().pool.query(insert);
    const [idx] = await db
      .get()
      .pool.query<RowDataPacket[]>(
        "SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'wp_webhook_outbox' AND NON_UNIQUE = 0 AND INDEX_NAME <> 'PRIMARY'",
      );
    expect(idx).to.deep.equal([]);
  });

  for (const engine of ['MyISAM', 'MEMORY']) {
    it(`refuses to start on a ${engine} outbox with one line naming the table and the fix`, async () => {
      const { spawnSidecar, testEnv } = await import('../support/sidecar.js');
      const prefix = `${engine.toLowerCase()}_`;
      await db.get().pool.query(`CREATE TABLE ${prefix}webhook_outbox (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, event_type VARCHAR(191) NOT NULL, payload ${engine === 'MEMORY' ? 'VARCHAR(2000)' : 'LONGTEXT'} NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)) ENGINE=${engine}`);
      const child = spawnSidecar(testEnv(db.get().url, { TABLE_PREFIX: prefix }));
      const code = await child.exited;
      expect(code).to.equal(1);
      const lines = child.output().trim().split('\n');
      expect(lines, child.output()).to.have.length(1);
      expect(lines[0]).to.equal(
        `Cannot start: the outbox table ${prefix}webhook_outbox uses the ${engine} engine, which does not take part in transactions: an event whose LMS transaction rolls back would still be sent. Convert it with: ALTER TABLE \`${prefix}webhook_outbox\` ENGINE=InnoDB;`,
      );
    });
  }
});
