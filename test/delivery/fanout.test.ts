import { expect } from 'chai';
import { useTestDb, insertOutbox } from '../support/db.js';
import { createPool, parseDatabaseUrl } from '../../src/db/pool.js';
import { migrate } from '../../src/db/migrate.js';
import { tableNames } from '../../src/db/tables.js';
import { silentLogger } from '../../src/log.js';
import { fanOutBatch } from '../../src/delivery/fanout.js';
import { BATCH_BYTES } from '../../src/db/outbox.js';

describe('fan-out batches', () => {
  const db = useTestDb('fanout');

  it('holds at most BATCH_BYTES of payload in memory per batch, and the next batch takes the rest', async () => {
    const pool = createPool(parseDatabaseUrl(db.get().url), 2);
    const t = tableNames('wp_');
    try {
      await migrate(pool, t, silentLogger);
      const big = JSON.stringify({ blob: 'x'.repeat(300 * 1024) });
      await insertOutbox(pool, Array.from({ length: 40 }, () => ({ type: 'big.one', payload: big })));
      const first = await fanOutBatch(pool, t, { limit: 500, maxPayloadBytes: 512 * 1024 });
      expect(first.truncated).to.equal(true);
      expect(first.rows).to.equal(Math.floor(BATCH_BYTES / big.length));
      const second = await fanOutBatch(pool, t, { limit: 500, maxPayloadBytes: 512 * 1024 });
      expect(first.rows + second.rows).to.equal(40);
      expect(second.truncated).to.equal(false);
      expect((await fanOutBatch(pool, t, { limit: 500, maxPayloadBytes: 512 * 1024 })).rows).to.equal(0);
    } finally {
      await pool.end();
    }
  });
});
