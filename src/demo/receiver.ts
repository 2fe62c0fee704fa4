/**
 * A sample receiver for the compose `demo` profile: verifies every request
 * with verifyWebhook and logs what arrived. Env: WEBHOOK_SECRET, PORT (9000).
 */
import http from 'node:http';
import { verifyWebhook } from '../verify.js';
import { coerceError } from '../errors.js';

const secret = process.env.WEBHOOK_SECRET ?? '';
if (secret.length < 16) {
  process.stderr.write('Configuration error: WEBHOOK_SECRET must be set (at least 16 characters)\n');
  process.exit(78);
}
const port = Number(process.env.PORT ?? 9000);
const seen = new Set<string>();

http
  .createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const event = verifyWebhook(secret, Buffer.concat(chunks), req.headers as Record<string, string>);
        const dup = seen.has(event.id);
        seen.add(event.id);
        process.stdout.write(
          JSON.stringify({ verified: true, duplicate: dup, id: event.id, event: event.event, data: event.data }) + '\n',
        );
        res.writeHead(204).end();
      } catch (err) {
        process.stdout.write(JSON.stringify({ verified: false, error: coerceError(err).message }) + '\n');
        res.writeHead(400).end();
      }
    });
  })
  .listen(port, '0.0.0.0', () => process.stdout.write(`demo receiver listening on :${port}\n`));
