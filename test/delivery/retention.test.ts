import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2/promise';
import { useTestDb, migratedPool } from '../support/db.js';
import { pruneOnce } from '../../src/delivery/retention.js';
import { silentLogger } from '../../src/log.js';

describe('retention', () => {
  const db = useTestDb('retention');

  it('prunes old logs, outbox rows and finished deliveries in batches, and keeps anything still to send', async () => {
    const { pool, t } = await migratedPool(db.get().url);
    try {
      const old = 'NOW(3) - INTERVAL 40 DAY';
      await pool.query(`INSERT INTO ${t.endpoints} (url, events, secret) VALUES ('http://x/', '["*"]', 's')`);
      await pool.query(`INSERT INTO ${t.events} (id, event_id, event_type, body, occurred_at, created_at) VALUES
        (1, 'e1', 'a', '{}', NOW(3), ${old}), (2, 'e2', 'a', '{}', NOW(3), ${old}), (3, 'e3', 'a', '{}', NOW(3), ${old}), (4, 'e4', 'a', '{}', NOW(3), NOW(3))`);
      // 1 old succeeded, 2 old failed, 3 old pending, 4 old paused, 5 new succeeded, 6 old cancelled (a transformation's, an erasure's).
      await pool.query(`INSERT INTO ${t.deliveries} (id, endpoint_id, event_pk, event_type, status, created_at, completed_at, next_attempt_at) VALUES
        (1, 1, 1, 'a', 'succeeded', ${old}, ${old}, NULL), (2, 1, 1, 'a', 'failed', ${old}, ${old}, NULL),
        (3, 1, 2, 'a', 'pending', ${old}, NULL, NOW(3)), (4, 1, 2, 'a', 'paused', ${old}, NULL, NULL), (5, 1, 4, 'a', 'succeeded', NOW(3), NOW(3), NULL),
        (6, 1, 3, 'a', 'cancelled', ${old}, ${old}, NULL)`);
      // 4,500 old attempts (more than two batches) on delivery 3, and one recent one.
      // Rows made in SQL from a cross join of digits: portable (MariaDB's seq_1_to_N tables are not).
      const digits =
        '(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)';
      await pool.query(`INSERT INTO ${t.attempts} (delivery_id, attempt_no, started_at, duration_ms, outcome, request_url, request_headers, worker)
        SELECT 3, 1 + a.d + 10 * b.d + 100 * c.d + 1000 * d.d, ${old}, 1, 'failure', 'http://x/', '{}', 'w' FROM ${digits} a, ${digits} b, ${digits} c, ${digits} d
         WHERE a.d + 10 * b.d + 100 * c.d + 1000 * d.d < 4500`);
      await pool.query(
        `INSERT INTO ${t.attempts} (delivery_id, attempt_no, started_at, duration_ms, outcome, request_url, request_headers, worker) VALUES (5, 1, NOW(3), 1, 'success', 'http://x/', '{}', 'w')`,
      );
      await pool.query(
        `INSERT INTO ${t.outbox} (event_type, payload, fanned_out_at) VALUES ('a', '{}', ${old}), ('a', '{}', NOW(3)), ('a', '{}', NULL)`,
      );
      await pool.query(`UPDATE ${t.outbox} SET created_at = ${old}`);

      const r = await pruneOnce(pool, t, 30, silentLogger);
      expect(r).to.deep.equal({ attempts: 4500, outbox: 1, deliveries: 3, events: 2 });
      const count = async (sql: string) => Number((await pool.query<RowDataPacket[]>(sql))[0][0]!.n);
      expect(await count(`SELECT COUNT(*) AS n FROM ${t.attempts}`)).to.equal(1);
      expect(await count(`SELECT COUNT(*) AS n FROM ${t.outbox}`)).to.equal(2);
      const [left] = await pool.query<RowDataPacket[]>(`SELECT id FROM ${t.deliveries} ORDER BY id`);
      expect(left.map((x) => x.id)).to.deep.equal([3, 4, 5]);
      const [events] = await pool.query<RowDataPacket[]>(`SELECT id FROM ${t.events} ORDER BY id`);
      expect(events.map((x) => x.id)).to.deep.equal([2, 4]);
    } finally {
      await pool.end();
    }
  });
});
