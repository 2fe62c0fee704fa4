/**
 * The compose `demo` profile's event generator: registers the demo receiver
 * as an endpoint (directly in the table, with the shared WEBHOOK_SECRET) and
 * then writes one random catalog event into the outbox every INTERVAL_MS
 * (default 3000), as an LMS would. Env: DATABASE_URL, TABLE_PREFIX,
 * WEBHOOK_SECRET, RECEIVER_URL, SECRETS_KEY (the sidecar's).
 */
import { loadConfig } from '../config.js';
import { createPool } from '../db/pool.js';
import { parseDatabaseUrl } from '../db/databaseUrl.js';
import { tableNames } from '../db/tables.js';
import { rows } from '../db/sql.js';
import { SAMPLE_PAYLOADS } from '../catalog.js';
import { createSecretBox } from '../secrets.js';

const config = loadConfig();
if (!config.secrets.current) {
  process.stderr.write(`Configuration error: ${config.secrets.missing?.message}\n`);
  process.exit(78);
}
// Sealed with the sidecar's key, as the sidecar stores every secret.
const secret = createSecretBox(config.secrets.current).seal(process.env.WEBHOOK_SECRET ?? '');
const receiverUrl = process.env.RECEIVER_URL ?? 'http://demo-receiver:9000/webhooks';
const intervalMs = Number(process.env.INTERVAL_MS ?? 3000);
const pool = createPool(parseDatabaseUrl(config.databaseUrl, config.databaseSocket), 2);
const t = tableNames(config.tablePrefix);
const description = 'Demo receiver (compose demo profile)';

const [existing] = await rows(pool, `SELECT id FROM ${t.endpoints} WHERE description = ?`, [description]);
if (existing)
  await pool.query(`UPDATE ${t.endpoints} SET url = ?, secret = ?, enabled = 1 WHERE id = ?`, [
    receiverUrl,
    secret,
    existing.id,
  ]);
else
  await pool.query(`INSERT INTO ${t.endpoints} (url, description, events, secret) VALUES (?, ?, '["*"]', ?)`, [
    receiverUrl,
    description,
    secret,
  ]);
process.stdout.write(`generating one event every ${intervalMs} ms for ${receiverUrl}\n`);

const types = Object.keys(SAMPLE_PAYLOADS);
setInterval(() => {
  const type = types[Math.floor(Math.random() * types.length)]!;
  pool
    .query(`INSERT INTO ${t.outbox} (event_type, payload) VALUES (?, ?)`, [type, JSON.stringify(SAMPLE_PAYLOADS[type])])
    .then(() => process.stdout.write(`wrote ${type}\n`))
    .catch((err: Error) => process.stderr.write(`insert failed: ${err.message}\n`));
}, intervalMs);
