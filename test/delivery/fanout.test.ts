import { expect } from 'chai';
import { useTestDb, insertOutbox, migratedPool } from '../support/db.js';
import { fanOutBatch } from '../../src/delivery/fanout.js';
import { BATCH_BYTES } from '../../src/db/outbox.js';

describe('fan-out batches', () => {
  const db = useTestDb('fanout');

  it('holds at most BATCH_BYTES of payload in memory per batch, and the next batch takes the rest', async () => {
    const { pool, t } = await migratedPool(db.get().url);
    try {
      const big = JSON.stringify({ blob: 'x'.repeat(300 * 1024) });
      await insertOutbox(
        pool,
        Array.from({ length: 40 }, () => ({ type: 'big.one', payload: big })),
      );
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
