/**
 * The ceiling: got alone POSTing the same envelope to the same receiver, same
 * concurrency, same agent settings as the sidecar. Prints {rate} as JSON.
 * With a fourth argument `sender`: the sidecar's own sign-and-send path
 * (signedHeaders + createSender) with no database, to split the sidecar's
 * cost per delivery into what HTTP takes and what the pipeline adds.
 */
import http from 'node:http';
import got from 'got';
import { createSender } from '../../src/delivery/send.js';
import { signedHeaders } from '../../src/delivery/sign.js';

const [url, nArg, concArg] = process.argv.slice(2);
let n = Number(nArg);
const concurrency = Number(concArg);
const agent = { http: new http.Agent({ keepAlive: true, maxSockets: 256 }) };
const body = Buffer.from(
  JSON.stringify({
    id: 'evt_raw',
    event: 'enrollment.created',
    created_at: '2025-03-20T10:30:00Z',
    data: { student_id: 'student_xyz789', course_id: 'course_abc123' },
  }),
);

const mode = process.argv[5] ?? 'got';
const sender = mode === 'sender' ? createSender({ allowPrivateTargets: true }) : null;
const secret = 'whsec_' + 'a'.repeat(43);

let next = 0;
async function worker() {
  while (next < n) {
    next++;
    if (sender) {
      const headers = signedHeaders({
        eventId: 'evt_raw',
        eventType: 'enrollment.created',
        body,
        timestampSeconds: Math.floor(Date.now() / 1000),
        secrets: [secret],
        userAgent: 'bench',
        ed25519: null,
      });
      await sender.send({ url: url!, headers, body, timeoutMs: 10_000, keepBodyBytes: 1024 });
    } else {
      await got.post(url!, {
        body,
        headers: { 'content-type': 'application/json' },
        agent,
        retry: { limit: 0 },
        timeout: { request: 10_000 },
        followRedirect: false,
        throwHttpErrors: false,
      });
    }
  }
}
// Warm up first (JIT, sockets), as the sidecar is before its drain is timed: steady state on both sides.
const total = n;
n = Math.min(2000, Math.ceil(total / 10));
await Promise.all(Array.from({ length: concurrency }, worker));
next = 0;
n = total;
const t0 = performance.now();
const cpu0 = process.cpuUsage();
await Promise.all(Array.from({ length: concurrency }, worker));
const secs = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
process.stdout.write(JSON.stringify({ n, seconds: secs, rate: n / secs, cpuUs: (cpu.user + cpu.system) / n }) + '\n');
agent.http.destroy();
sender?.close();
