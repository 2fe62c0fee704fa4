/**
 * A host whose max_allowed_packet is small (MySQL 5.7 shipped 4 MB; here
 * 1 MB, on a server of the test's own): fan-out batches and the recorder's
 * writes are cut to what one statement may carry, so big payloads and big
 * response bodies are delivered and recorded rather than refused on every
 * retry.
 */
import { expect } from 'chai';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { createPrivateMariaDb, type PrivateMariaDb } from '../support/mariadb.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { apiClient, startInProcess } from '../support/sidecar.js';
import type { Sidecar } from '../../src/sidecar.js';
import { insertOutbox } from '../support/db.js';
import { waitFor } from '../support/wait.js';

describe('a server with a 1 MB max_allowed_packet', function () {
  this.timeout(120_000);
  let server: PrivateMariaDb;
  let receiver: Receiver;
  let sidecar: Sidecar | undefined;

  before(async () => {
    server = await createPrivateMariaDb(['--max-allowed-packet=1M']);
    await server.start();
    // 64 KB of quotes: 128 KB once escaped in the attempt row.
    receiver = await startReceiver(() => ({ status: 200, body: '"'.repeat(65536) }));
  });

  after(async () => {
    await sidecar?.stop();
    await receiver?.close();
    await server?.destroy();
  });

  it('fans out and records in statements that fit, and rejects a payload no statement can carry, naming max_allowed_packet', async () => {
    const url = server.url('lms_packet');
    sidecar = await startInProcess(url);
    const api = apiClient(sidecar.url);
    expect(
      (await api('PATCH', '/api/settings', { response_body_max_bytes: 65536, max_payload_bytes: 1024 * 1024 })).status,
    ).to.equal(200);
    expect((await api('POST', '/api/endpoints', { url: receiver.url, events: ['*'] })).status).to.equal(201);

    const pool = mysql.createPool({ uri: url, connectionLimit: 1 });
    try {
      // 40 payloads of ~100 KB full of quotes: about 8 MB in one batch's statement once escaped.
      const quoted = '"'.repeat(50_000);
      for (let i = 0; i < 40; i++)
        await insertOutbox(pool, [{ type: 'course.completed', payload: { i, notes: quoted } }]); // one a statement, as an LMS writes them
      // Within max_payload_bytes, but over half the packet: escaped, no statement here could carry it.
      await pool.query("INSERT INTO wp_webhook_outbox (event_type, payload) VALUES ('course.completed', ?)", [
        JSON.stringify({ big: 'x'.repeat(600_000) }),
      ]);

      await waitFor(
        '40 delivered and recorded',
        async () => {
          const [[r]] = await pool.query<RowDataPacket[]>(
            "SELECT COUNT(*) AS n FROM wp_webhook_deliveries WHERE status = 'succeeded'",
          );
          return Number(r!.n) === 40;
        },
        60_000,
        200,
      );
      expect(new Set(receiver.received.map((r) => r.json.id)).size).to.equal(40);
      expect(receiver.received.every((r) => (r.json.data as { notes: string }).notes === quoted)).to.equal(true);

      const [[big]] = await pool.query<RowDataPacket[]>(
        'SELECT rejected_reason FROM wp_webhook_outbox ORDER BY id DESC LIMIT 1',
      );
      expect(big!.rejected_reason).to.match(
        /^payload is 60\d{4} bytes, more than this database server takes in one statement once escaped \(\d+ bytes at its max_allowed_packet\); raise max_allowed_packet/,
      );
      const [attempts] = await pool.query<RowDataPacket[]>(
        'SELECT LENGTH(response_body) AS n FROM wp_webhook_attempts',
      );
      expect(attempts.map((a) => Number(a.n)))
        .to.have.length(40)
        .and.to.satisfy((ns: number[]) => ns.every((n) => n === 65536));
    } finally {
      await pool.end();
    }
  });
});
