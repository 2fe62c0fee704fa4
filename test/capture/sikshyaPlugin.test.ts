/**
 * The must-use plugin alternative (integrations/sikshya) against the
 * triggers, on a real WordPress under php-cli: the same Sikshya writes,
 * once with the plugin hearing Sikshya's actions and once with the
 * triggers installed, give the same events with the same data.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { SERVER_URL, useTestDb } from '../support/db.js';
import { createSikshyaTables } from '../support/sikshya.js';
import { installWordPress, readmeBlock, writeWpConfig } from '../support/wordpress.js';
import { installCapture } from '../../src/capture/install.js';
import { migrate } from '../../src/db/migrate.js';
import { tableNames } from '../../src/db/tables.js';
import { silentLogger } from '../../src/log.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SIKSHYA_TABLES = ['enrollments', 'progress', 'quiz_attempts', 'certificates', 'orders', 'payments'];

interface OutboxEvent {
  type: string;
  key: string | null;
  data: Record<string, unknown>;
}

async function outbox(pool: Pool): Promise<OutboxEvent[]> {
  const [rows] = await pool.query<RowDataPacket[]>(
    'SELECT event_type, ordering_key, payload FROM wp_webhook_outbox ORDER BY id',
  );
  return rows.map((r) => ({
    type: String(r.event_type),
    key: r.ordering_key === null ? null : String(r.ordering_key),
    data: JSON.parse(String(r.payload)) as Record<string, unknown>,
  }));
}

/** Times differ by when each ran; everything else must be the same. */
const withoutTimes = (data: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(data).filter(([k]) => !k.endsWith('_at')));

describe('Sikshya capture: the must-use plugin and the triggers send the same events', function () {
  this.timeout(120_000);
  const db = useTestDb('sikshyawp');
  let wpConfig: string;
  let snippet: string;

  const playSikshya = (plugin: string | null) =>
    JSON.parse(
      execFileSync('php', [path.join(ROOT, 'test/support/php/sikshya.php'), wpConfig, snippet, plugin ?? '-'], {
        encoding: 'utf8',
      }).replace(/^[^{]*/, ''),
    ) as { user: number; enrollment: number; order: number };

  before(async () => {
    // The same server the test database is on (MariaDB, or MySQL under npm run test:mysql), as PHP's mysqli takes it.
    const server = new URL(SERVER_URL);
    const conn = {
      dbName: db.get().name,
      dbUser: decodeURIComponent(server.username),
      dbPassword: decodeURIComponent(server.password),
      dbHost: `${server.hostname}:${server.port || '3306'}`,
      prefix: 'wp_',
    };
    await installWordPress({
      ...conn,
      admin: { login: 'admin', email: 'admin@example.com', password: 'admin password 1' },
      users: [],
      options: {},
    });
    wpConfig = writeWpConfig(conn);
    snippet = path.join(path.dirname(wpConfig), 'lms-snippet.php');
    writeFileSync(snippet, `<?php\n${readmeBlock('lms-snippet')}`);
    await migrate(db.get().pool, tableNames('wp_'), silentLogger);
    await createSikshyaTables(db.get().pool, 'wp_');
  });

  it('gives the same six events, with the same data and ordering key, either way', async () => {
    const pool = db.get().pool;
    const ids = playSikshya(path.join(ROOT, 'integrations/sikshya/lms-webhooks-sikshya.php'));
    const byPlugin = await outbox(pool);
    expect(byPlugin.map((e) => e.type)).to.deep.equal([
      'enrollment.created',
      'lesson.completed',
      'quiz.submitted',
      'enrollment.completed',
      'certificate.issued',
      'order.completed',
    ]);

    // Again from empty tables (so the ids are the same), with the triggers and no plugin.
    for (const t of SIKSHYA_TABLES) await pool.query(`TRUNCATE TABLE wp_sikshya_${t}`);
    await pool.query('DELETE FROM wp_webhook_outbox');
    await installCapture(pool, tableNames('wp_'));
    expect(playSikshya(null)).to.deep.equal(ids);
    const byTriggers = await outbox(pool);

    for (const e of byPlugin) {
      const twin = byTriggers.find((x) => x.type === e.type);
      expect(twin, e.type).to.not.equal(undefined);
      expect(withoutTimes(e.data), e.type).to.deep.equal(withoutTimes(twin!.data));
      // MySQL keeps JSON keys in its own order (MariaDB as written): the same fields, in any order.
      expect(Object.keys(e.data).sort(), `${e.type}: the same fields, times included`).to.deep.equal(
        Object.keys(twin!.data).sort(),
      );
      expect(e.key).to.equal(`student_${ids.user}`);
      expect(twin!.key).to.equal(e.key);
    }
    expect(byPlugin.find((e) => e.type === 'enrollment.created')!.data).to.deep.include({
      student_name: 'Priya Sharma',
      course_title: 'Complete Python Bootcamp',
      amount: 4999,
    });
    // The triggers also see what Sikshya fires no action for.
    expect(byTriggers.map((e) => e.type)).to.include('order.created');
  });
});
