/**
 * The ceiling: got alone POSTing the same envelope to the same receiver, same
 * concurrency, same agent settings as the sidecar. Prints {rate} as JSON.
 */
import http from 'node:http';
import got from 'got';

const [url, nArg, concArg] = process.argv.slice(2);
const n = Number(nArg);
const concurrency = Number(concArg);
const agent = { http: new http.Agent({ keepAlive: true, maxSockets: 256 }) };
const body = Buffer.from(JSON.stringify({ id: 'evt_raw', event: 'enrollment.created', created_at: '2025-03-20T10:30:00Z', data: { student_id: 'student_xyz789', course_id: 'course_abc123' } }));

let next = 0;
async function worker() {
  while (next < n) {
    next++;
    await got.post(url!, { body, headers: { 'content-type': 'application/json' }, agent, retry: { limit: 0 }, timeout: { request: 10_000 }, followRedirect: false, throwHttpErrors: false });
  }
}
const t0 = performance.now();
const cpu0 = process.cpuUsage();
await Promise.all(Array.from({ length: concurrency }, worker));
const secs = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
process.stdout.write(JSON.stringify({ n, seconds: secs, rate: n / secs, cpuUs: (cpu.user + cpu.system) / n }) + '\n');
agent.http.destroy();
