/**
 * `npm run demo`: the whole path on this machine in one command. Starts the
 * sidecar against DATABASE_URL (a development database: private targets are
 * allowed here), points a "Demo receiver" endpoint at a built-in receiver
 * that verifies every signature, writes one realistic event of each catalog
 * type into the outbox the way an LMS would, and prints each verified
 * delivery as it arrives. Then it keeps the admin UI up until Ctrl-C
 * (`--once` stops as soon as everything has arrived).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../config.js';
import { createLogger } from '../log.js';
import { startSidecar } from '../sidecar.js';
import { verifyWebhook, WebhookVerificationError } from '../verify.js';
import { SAMPLE_PAYLOADS } from '../catalog.js';
import { ConfigError, coerceError } from '../errors.js';

const DEMO_DESCRIPTION = 'Demo receiver (npm run demo)';
const DEMO_SECRETS_KEY = 'npm-run-demo-development-key-not-for-real-sites';
const once = process.argv.includes('--once');
const out = (line: string) => process.stdout.write(line + '\n');

async function main(): Promise<void> {
  const config = loadConfig({
    // A development database: a fixed key unless one is set (never use it for a real site).
    SECRETS_KEY: process.env.SECRETS_KEY_FILE || process.env.WP_CONFIG ? undefined : DEMO_SECRETS_KEY,
    ...process.env,
    ALLOW_PRIVATE_TARGETS: 'true',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  });
  const log = createLogger(config.logLevel);
  const sidecar = await startSidecar(config, log, { print: out });
  const { service } = sidecar;

  let secret = '';
  const expected = new Set(Object.keys(SAMPLE_PAYLOADS));
  const insertedAt = new Map<string, number>();
  let done: () => void;
  const allArrived = new Promise<void>((r) => (done = r));

  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const event = verifyWebhook(secret, Buffer.concat(chunks), req.headers as Record<string, string>);
        const ms = Date.now() - (insertedAt.get(event.event) ?? Date.now());
        out(`  ✔ verified ${event.event.padEnd(24)} ${event.id}  (${ms} ms after the INSERT)`);
        res.writeHead(204).end();
        expected.delete(event.event);
        if (expected.size === 0) done();
      } catch (err) {
        const msg = err instanceof WebhookVerificationError ? err.message : coerceError(err).message;
        out(`  ✘ rejected a request: ${msg}`);
        res.writeHead(400).end(msg);
      }
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhooks`;

  // Reuse the demo endpoint from an earlier run: its old port is gone.
  const existing = (await service.listEndpoints()).find((e) => e.description === DEMO_DESCRIPTION);
  const endpoint = existing
    ? (
        await service.updateEndpoint(
          existing.id,
          { url: receiverUrl, events: ['*'], enabled: true },
          { resumePaused: false },
        )
      ).endpoint
    : await service.createEndpoint({ url: receiverUrl, events: ['*'], description: DEMO_DESCRIPTION, enabled: true });
  secret = endpoint.secret;

  out(`\nDemo: endpoint #${endpoint.id} → ${receiverUrl}`);
  out(
    `Writing ${expected.size} LMS events into ${config.tablePrefix}webhook_outbox, in one transaction as an LMS would:\n`,
  );
  const conn = await sidecar.pool.getConnection();
  try {
    await conn.beginTransaction();
    for (const [type, payload] of Object.entries(SAMPLE_PAYLOADS)) {
      await conn.query(`INSERT INTO ${sidecar.tables.outbox} (event_type, payload) VALUES (?, ?)`, [
        type,
        JSON.stringify(payload),
      ]);
      insertedAt.set(type, Date.now());
    }
    await conn.commit();
  } finally {
    conn.release();
  }

  const timeout = setTimeout(() => {
    out(`\nStill waiting for: ${[...expected].join(', ')} (see the delivery log)`);
    done();
  }, 30_000);
  await allArrived;
  clearTimeout(timeout);

  out(`\nAll ${Object.keys(SAMPLE_PAYLOADS).length - expected.size} events delivered and verified.`);
  out(`Admin UI: ${sidecar.url}/admin  (password: ADMIN_PASSWORD, or the one printed at first start)`);
  out(`Delivery log for the demo endpoint: ${sidecar.url}/admin/deliveries?endpoint_id=${endpoint.id}`);

  const finish = async () => {
    // Disable the demo endpoint so later runs of the sidecar do not retry into a closed port.
    await service.updateEndpoint(endpoint.id, { enabled: false }).catch(() => {});
    receiver.closeAllConnections();
    receiver.close();
    await sidecar.stop();
    process.exit(expected.size === 0 ? 0 : 1);
  };
  if (once) return finish();
  out('Press Ctrl-C to stop.');
  process.once('SIGINT', () => void finish());
  process.once('SIGTERM', () => void finish());
}

main().catch((err: unknown) => {
  const e = coerceError(err);
  process.stderr.write(
    e instanceof ConfigError ? `Configuration error: ${e.message}\n` : `demo failed: ${e.message}\n`,
  );
  process.exit(1);
});
