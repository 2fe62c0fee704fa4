/**
 * A database outage for real: a MariaDB server of the test's own is stopped
 * under a running sidecar process and started again.
 */
import { expect } from 'chai';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { createPrivateMariaDb, type PrivateMariaDb } from '../support/mariadb.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { apiClient, spawnSidecar, startInProcess, testEnv, type Child } from '../support/sidecar.js';
import { insertOutbox } from '../support/db.js';
import { sleep, waitFor } from '../support/wait.js';
import { freePort } from '../support/net.js';

describe('database outage', function () {
  this.timeout(120_000);
  let server: PrivateMariaDb;
  let receiver: Receiver;
  let child: Child | undefined;

  before(async () => {
    server = await createPrivateMariaDb();
    await server.start();
    receiver = await startReceiver(() => ({ status: 200, delayMs: 10 }));
  });

  after(async () => {
    if (child && child.proc.exitCode === null) {
      child.proc.kill('SIGTERM');
      await child.exited;
    }
    await receiver?.close();
    await server?.destroy();
  });

  it('logs and backs off while the database is down, answers 503 meanwhile, and then delivers everything once', async () => {
    const url = server.url('lms_outage');
    const admin = await startInProcess(url, {}, { loop: false });
    await apiClient(admin.url)('PATCH', '/api/settings', { timeout_seconds: 5 });
    await apiClient(admin.url)('POST', '/api/endpoints', { url: receiver.url, events: ['*'] });
    await admin.stop();

    // A port the kernel says is free: a random one could be taken (20000–40000 overlaps the ephemeral range).
    const port = await freePort();
    child = spawnSidecar(testEnv(url, { PORT: String(port), LOG_LEVEL: 'warn' }));
    const api = apiClient(`http://127.0.0.1:${port}`);
    await waitFor(
      'sidecar up',
      async () => (await api('GET', '/healthz', undefined, null)).status === 200,
      30_000,
      100,
    );

    const N = 1500;
    const pool = mysql.createPool({ uri: url, connectionLimit: 2 });
    await insertOutbox(
      pool,
      Array.from({ length: N }, (_, i) => ({ type: 'order.created', payload: { i } })),
    );
    await pool.end();
    await waitFor('deliveries under way', () => receiver.received.length >= 200, 30_000);

    await server.stop();
    const atStop = receiver.received.length;
    await sleep(1500);
    const apiDuring = await api('GET', '/api/endpoints');
    expect(apiDuring.status).to.equal(503);
    expect(apiDuring.body.error.message).to.match(/database is not answering/);
    const health = await api('GET', '/healthz', undefined, null);
    expect(health.status).to.equal(503);
    expect(health.body.database).to.equal('down');
    const page = await fetch(`http://127.0.0.1:${port}/admin`, {
      headers: { cookie: 'whs_session=anything' },
      redirect: 'manual',
    });
    expect(page.status).to.equal(503);
    expect(await page.text()).to.match(/database is not answering/);
    await sleep(3000);
    expect(child.proc.exitCode, 'the sidecar kept running').to.equal(null);

    await server.start();
    const check = mysql.createPool({ uri: url, connectionLimit: 2 });
    try {
      await waitFor(
        'all delivered after the restart',
        async () => {
          const [[r]] = await check.query<RowDataPacket[]>(
            "SELECT COUNT(*) AS n FROM wp_webhook_deliveries WHERE status = 'succeeded'",
          );
          return Number(r!.n) === N;
        },
        90_000,
        250,
      );
    } finally {
      await check.end();
    }
    const ids = new Map<string, number>();
    for (const r of receiver.received) ids.set(r.json.id, (ids.get(r.json.id) ?? 0) + 1);
    const duplicated = [...ids.values()].reduce((s, n) => s + n - 1, 0);
    console.log(
      `      ${N} events, database down for ~5 s after ${atStop} receipts: lost ${N - ids.size}, duplicated ${duplicated}`,
    );
    expect(ids.size).to.equal(N);
    expect(duplicated).to.equal(0);
    expect(child.output()).to.match(/database unavailable while/);
    const errors = child
      .output()
      .split('\n')
      .filter((l) => l.includes('"level":"error"'));
    expect(errors, errors.join('\n')).to.deep.equal([]);
  });
});
