/**
 * The pipeline alone: fan-out, claim, schedule, sign and record, in one
 * process on a fresh database, with a sender that answers 200 on the next
 * turn of the event loop (no HTTP). Prints {rate, cpuUs, gcUs, majorGcs} as
 * JSON: what a delivery costs the sidecar besides the request itself.
 *
 * Usage: node [flags] dist/test/bench/pipeline.js N [url]
 *   url: send for real (createSender) to that receiver instead, in-process.
 *   BENCH_ALLOC_PROF=file: a sampling allocation profile of the timed drain,
 *   garbage included (open it in Chrome DevTools' Memory tab).
 */
import { testSecretBox } from '../support/sidecar.js';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import type { RowDataPacket } from 'mysql2/promise';
import { createTestDb, insertOutbox, migratedPool } from '../support/db.js';
import { createSettingsStore } from '../../src/delivery/settingsStore.js';
import { createDispatcher } from '../../src/delivery/dispatcher.js';
import { createSender, type Sender, type SendResult } from '../../src/delivery/send.js';
import { createMetrics } from '../../src/metrics.js';
import { silentLogger } from '../../src/log.js';

const n = Number(process.argv[2] ?? 20_000);
const target = process.argv[3];

const gc = { ms: 0, majors: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gc.ms += e.duration;
    if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)
      gc.majors++;
  }
}).observe({ entryTypes: ['gc'] });

const ok: SendResult = {
  ok: true,
  statusCode: 200,
  headers: { 'content-type': 'text/plain', 'content-length': '2' },
  body: 'ok',
  durationMs: 1,
  errorClass: null,
  errorMessage: null,
};
const instant: Sender = { send: () => new Promise((r) => setImmediate(() => r({ ...ok }))), close() {} };

const db = await createTestDb('pipeline');
try {
  // Ten connections, as the sidecar's own pool.
  const { pool, t } = await migratedPool(db.url, 'wp_', 10);
  await db.pool.query(`INSERT INTO ${t.endpoints} (url, events, secret) VALUES (?, '["bench.*"]', ?)`, [
    target ?? 'http://127.0.0.1:9/hook',
    `whsec_${'a'.repeat(43)}`,
  ]);
  const sender = target ? createSender({ allowPrivateTargets: true, maxSockets: 256 }) : instant;
  const settings = createSettingsStore(pool, t);
  await settings.refreshIfStale();
  // Unpaced: this measures what the pipeline can do, not the default pace.
  await settings.update({ maxDeliveriesPerSecond: 0 });
  const d = createDispatcher({
    pool,
    tables: t,
    secrets: testSecretBox(),
    sender,
    settings,
    log: silentLogger,
    userAgent: 'bench',
    concurrency: 128,
    observer: createMetrics(pool, () => [{ blogId: null, tables: t }]),
  });
  const succeeded = async () => {
    const [[r]] = await db.pool.query<RowDataPacket[]>(
      `SELECT COUNT(*) AS c FROM ${t.deliveries} WHERE status = 'succeeded'`,
    );
    return Number(r!.c);
  };
  const drain = async (count: number, before: number) => {
    await insertOutbox(
      db.pool,
      Array.from({ length: count }, (_, i) => ({
        type: 'bench.created',
        payload: { student_id: `student_${before + i}`, course_id: 'course_abc123' },
      })),
    );
    Object.assign(gc, { ms: 0, majors: 0 });
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const timer = setInterval(() => void d.tick(), 100); // the 1 s tick plus the 200 ms probe, roughly
    while ((await succeeded()) < before + count) await new Promise((r) => setTimeout(r, 50));
    clearInterval(timer);
    const cpu = process.cpuUsage(c0);
    return {
      rate: count / ((performance.now() - t0) / 1000),
      cpuUs: (cpu.user + cpu.system) / count,
      gcUs: (gc.ms * 1000) / count,
      majorGcs: gc.majors,
    };
  };
  await drain(2000, 0); // warm-up: JIT, connections
  const session = process.env.BENCH_ALLOC_PROF ? new Session() : null;
  session?.connect();
  await session?.post('HeapProfiler.startSampling', {
    samplingInterval: 8192,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  } as never);
  const r = await drain(n, 2000);
  if (session)
    writeFileSync(
      process.env.BENCH_ALLOC_PROF!,
      JSON.stringify(((await session.post('HeapProfiler.stopSampling')) as { profile: unknown }).profile),
    );
  process.stdout.write(JSON.stringify({ n, ...r }) + '\n');
  await d.stop();
  sender.close();
  await pool.end();
} finally {
  await db.drop();
}
