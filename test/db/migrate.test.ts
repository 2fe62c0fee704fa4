import { expect } from 'chai';
import type { RowDataPacket } from 'mysql2/promise';
import { useTestDb, insertOutbox } from '../support/db.js';
import { createPool } from '../../src/db/pool.js';
import { parseDatabaseUrl } from '../../src/db/databaseUrl.js';
import { migrate } from '../../src/db/migrate.js';
import { tableNames } from '../../src/db/tables.js';
import { silentLogger } from '../../src/log.js';
import { fanOutBatch } from '../../src/delivery/fanout.js';
import { searchTerm } from '../../src/db/events.js';

describe('migrations', () => {
  const db = useTestDb('migrate');

  async function tablesWith(prefix: string): Promise<string[]> {
    const [rows] = await db
      .get()
      .pool.query<RowDataPacket[]>(
        'SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ?',
        [`${prefix.replace(/_/g, '\\_')}webhook%`],
      );
    // Sorted here: MySQL 8's default collation orders "_" differently from MariaDB's.
    return rows.map((r) => String(r.t)).sort();
  }

  it('applies each file once even when two processes start at the same moment', async () => {
    const target = parseDatabaseUrl(db.get().url);
    const pools = [createPool(target, 2), createPool(target, 2)];
    const t = tableNames('site2_');
    try {
      const applied = await Promise.all(pools.map((p) => migrate(p, t, silentLogger)));
      expect(applied.reduce((a, b) => a + b, 0)).to.be.greaterThan(0);
      expect(Math.min(...applied)).to.equal(0);
      expect(await migrate(pools[0]!, t, silentLogger)).to.equal(0);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
    expect(await tablesWith('site2_')).to.deep.equal([
      'site2_webhook_admin',
      'site2_webhook_admin_sessions',
      'site2_webhook_api_keys',
      'site2_webhook_attempts',
      'site2_webhook_deliveries',
      'site2_webhook_endpoints',
      'site2_webhook_erasures',
      'site2_webhook_event_terms',
      'site2_webhook_events',
      'site2_webhook_header_sets',
      'site2_webhook_line_locks',
      'site2_webhook_locks',
      'site2_webhook_login_attempts',
      'site2_webhook_migrations',
      'site2_webhook_outbox',
      'site2_webhook_rate_limits',
      'site2_webhook_settings',
    ]);
    // Nothing was created under another prefix.
    expect(await tablesWith('wp_')).to.deep.equal([]);
  });

  it('adopts an outbox the LMS created first, with only the contract columns', async () => {
    await db.get().pool.query(`CREATE TABLE lms3_webhook_outbox (
      id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
      event_type VARCHAR(191) NOT NULL,
      payload JSON NOT NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
    )`);
    await db
      .get()
      .pool.query(`INSERT INTO lms3_webhook_outbox (event_type, payload) VALUES ('order.created', '{"order_id": 7}')`);
    const pool = createPool(parseDatabaseUrl(db.get().url), 2);
    const t = tableNames('lms3_');
    try {
      await migrate(pool, t, silentLogger);
      await insertOutbox(db.get().pool, [{ type: 'order.created', payload: { order_id: 8 } }], 'lms3_');
      const r = await fanOutBatch(pool, t, { limit: 10, maxPayloadBytes: 1 << 20 });
      expect(r).to.include({ rows: 2, accepted: 2, rejected: 0 });
      const [rows] = await db.get().pool.query<RowDataPacket[]>('SELECT event_id FROM lms3_webhook_outbox ORDER BY id');
      expect(rows.every((x) => /^evt_/.test(String(x.event_id)))).to.equal(true);
    } finally {
      await pool.end();
    }
  });

  it('turns the searchable values an older version stored into terms that searches made now find, non-ASCII included', async () => {
    const pool = createPool(parseDatabaseUrl(db.get().url), 2);
    const t = tableNames('old4_');
    try {
      await migrate(pool, t, silentLogger);
      // As version 2 left it: the values as text, migration 14 not applied.
      await pool.query(`CREATE TABLE old4_webhook_event_values (
        event_pk BIGINT UNSIGNED NOT NULL,
        path VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        value VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
      const values: [number, string, string][] = [
        [1, 'data.student_id', 'student_42'],
        [1, 'data.student_name', 'Zoë Ångström 李'],
        [2, 'data.student_id', 'student_43'],
      ];
      await pool.query('INSERT INTO old4_webhook_event_values (event_pk, path, value) VALUES ?', [values]);
      await pool.query('DELETE FROM old4_webhook_event_terms');
      await pool.query('DELETE FROM old4_webhook_migrations WHERE id = 14');
      expect(await migrate(pool, t, silentLogger)).to.equal(1);
      for (const [pk, path, value] of values) {
        const [r] = await pool.query<RowDataPacket[]>('SELECT event_pk FROM old4_webhook_event_terms WHERE term = ?', [
          searchTerm(path, value),
        ]);
        expect(
          r.map((x) => Number(x.event_pk)),
          `${path}=${value}`,
        ).to.deep.equal([pk]);
      }
      expect(await tablesWith('old4_')).to.not.include('old4_webhook_event_values');
    } finally {
      await pool.end();
    }
  });
});
