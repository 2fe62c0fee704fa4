/**
 * `npm run bench`: prints the performance table (README "Performance").
 * Everything runs on this machine: a fresh database on the local MariaDB,
 * the receiver in its own process, the sidecar as real child processes.
 * Options: --json (machine-readable), --quick (smaller runs, for a smoke test),
 * --drain-only=N (just the raw ceiling and one drain of N events × 1 endpoint),
 * --ordered-only=N (N keyed events drained unordered, then ordered per key over 1,000 keys),
 * --filtered-only=N (N events drained without, then through, a 3-condition filter).
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { createTestDb, insertOutbox, type TestDb } from '../support/db.js';
import { apiClient, spawnSidecar, testEnv, type Api, type Child } from '../support/sidecar.js';
import { sleep, waitFor } from '../support/wait.js';
import { freePort } from '../support/net.js';
import { createPool, parseDatabaseUrl } from '../../src/db/pool.js';
import { migrate } from '../../src/db/migrate.js';
import { tableNames, type Tables } from '../../src/db/tables.js';
import { silentLogger } from '../../src/log.js';

const JSON_OUT = process.argv.includes('--json');
const QUICK = process.argv.includes('--quick');
const DRAIN_ONLY = Number(process.argv.find((a) => a.startsWith('--drain-only='))?.split('=')[1] ?? 0);
const FILTERED_ONLY = Number(process.argv.find((a) => a.startsWith('--filtered-only='))?.split('=')[1] ?? 0);
const ORDERED_ONLY = Number(process.argv.find((a) => a.startsWith('--ordered-only='))?.split('=')[1] ?? 0);
const scale = (n: number) => (QUICK ? Math.max(100, Math.round(n / 20)) : n);
const CONCURRENCY = 64;
const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

interface Row {
  figure: string;
  value: string;
  target?: string;
  ok?: boolean;
}
const rows: Row[] = [];
const figures: Record<string, number | string> = {};
function report(key: string, figure: string, value: number, unit: string, target?: { text: string; ok: boolean }) {
  figures[key] = Math.round(value * 1000) / 1000;
  rows.push({ figure, value: `${value >= 100 ? Math.round(value) : value.toFixed(2)} ${unit}`.trim(), target: target?.text, ok: target?.ok });
  if (!JSON_OUT) process.stderr.write(`  ${figure}: ${value.toFixed(2)} ${unit}\n`);
}

// ---- receiver process ----
type Stats = { count: number; distinct: number; lastAt: number; latencies: number[] };
const recv = fork(here('./receiver.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const ask = <T>(cmd: string) =>
  new Promise<T>((resolve) => {
    recv.once('message', (m) => resolve(m as T));
    recv.send({ cmd });
  });
const { port: recvPort } = await new Promise<{ port: number }>((r) => recv.once('message', (m) => r(m as { port: number })));
const recvUrl = `http://127.0.0.1:${recvPort}/hook`;

async function startSidecar(db: TestDb): Promise<{ child: Child; api: Api }> {
  const port = await freePort();
  // Default concurrency (128 overall, 64 per endpoint): one endpoint gets the raw run's 64 in flight.
  // BENCH_CPU_PROF=dir writes a V8 CPU profile of each sidecar process there (node --cpu-prof).
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = spawnSidecar(testEnv(db.url, { PORT: String(port), LOG_LEVEL: 'warn' }), prof);
  const api = apiClient(`http://127.0.0.1:${port}`);
  await waitFor('sidecar up', async () => (await api('GET', '/healthz', undefined, null)).status === 200, 30_000, 100);
  return { child, api };
}

async function stopSidecar(c: Child) {
  c.proc.kill('SIGTERM');
  await c.exited;
}

/** The sidecar's own count of statements sent (webhooks_db_queries_total on /metrics). */
async function sidecarQueries(api: Api): Promise<number> {
  const res = await api('GET', '/metrics', undefined, null);
  return Number(/^webhooks_db_queries_total (\d+)/m.exec(String(res.body))?.[1] ?? NaN);
}

/** Cost per delivery of the last drain: CPU of the sidecar process and statements it sent. */
const perDelivery = { cpuUs: NaN, queries: NaN };

/** `keys`: rows carry ordering_key student_(i mod keys); `ordered`: the endpoints are ordered per key. */
async function drain(
  db: TestDb,
  api: Api,
  type: string,
  events: number,
  endpoints: number,
  pid?: number,
  opts: { keys?: number; ordered?: boolean; filter?: unknown } = {},
): Promise<number> {
  for (let i = 0; i < endpoints; i++) {
    await api('POST', '/api/endpoints', { url: `${recvUrl}?e=${i}`, events: [type], confirm: true, ordered: opts.ordered === true, ...(opts.filter ? { filter: opts.filter } : {}) });
  }
  await ask('reset');
  const q0 = await sidecarQueries(api);
  const c0 = pid ? cpuTicks(pid) : 0;
  const t0 = Date.now();
  const key = (i: number) => (opts.keys ? `student_${i % opts.keys}` : null);
  await insertOutbox(
    db.pool,
    Array.from({ length: events }, (_, i) => ({ type, payload: { student_id: `student_${i}`, course_id: 'course_abc123' }, ...(opts.keys ? { key: key(i) } : {}) })),
  );
  const total = events * endpoints;
  const s = await waitFor('drain', async () => {
    const st = await ask<Stats>('stats');
    return st.count >= total ? st : null;
  }, 600_000, 100);
  // Results are recorded in batches after receipt: let the last batch land before counting.
  await sleep(300);
  if (pid) perDelivery.cpuUs = ((cpuTicks(pid) - c0) * 10_000) / total;
  perDelivery.queries = ((await sidecarQueries(api)) - q0 - 1) / total;
  return total / ((s.lastAt - t0) / 1000);
}

async function latency(db: TestDb, api: Api, type: string, perSecond: number, seconds: number) {
  await api('POST', '/api/endpoints', { url: recvUrl, events: [type], confirm: true });
  await ask('reset');
  const tickMs = 20;
  const perTick = (perSecond * tickMs) / 1000;
  let owed = 0;
  const end = Date.now() + seconds * 1000;
  let sent = 0;
  while (Date.now() < end) {
    const started = Date.now();
    owed += perTick;
    const n = Math.floor(owed);
    owed -= n;
    if (n > 0) {
      const t = Date.now();
      await insertOutbox(db.pool, Array.from({ length: n }, () => ({ type, payload: { t } })));
      sent += n;
    }
    await sleep(Math.max(0, tickMs - (Date.now() - started)));
  }
  const s = await waitFor('latency receipts', async () => {
    const st = await ask<Stats>('stats');
    return st.count >= sent ? st : null;
  }, 120_000, 100);
  const l = [...s.latencies].sort((a, b) => a - b);
  const q = (p: number) => l[Math.min(l.length - 1, Math.floor((p / 100) * l.length))] ?? NaN;
  return { p50: q(50), p95: q(95), p99: q(99), achieved: sent / seconds };
}

function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (100/s)
}

async function questions(pool: Pool): Promise<number> {
  const [[r]] = await pool.query<RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'Questions'");
  return Number(r!.Value);
}

async function timeQuery(pool: Pool, sql: string, params: unknown[], reps: number, inTx: boolean): Promise<number> {
  const conn = await pool.getConnection();
  const times: number[] = [];
  try {
    for (let i = 0; i < reps; i++) {
      if (inTx) await conn.beginTransaction();
      const t0 = performance.now();
      await conn.query(sql, params);
      times.push(performance.now() - t0);
      if (inTx) await conn.rollback();
    }
  } finally {
    conn.release();
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

async function explainKeys(pool: Pool, sql: string, params: unknown[]): Promise<string> {
  const [r] = await pool.query<RowDataPacket[]>(`EXPLAIN ${sql}`, params);
  return r.map((x) => `${x.table}:${x.key ?? 'NONE'}`).join(' ');
}

/** Fills deliveries and attempts to `total` rows: ~1% pending due, the rest done, spread over 20 endpoints. */
async function fillTo(pool: Pool, t: Tables, total: number) {
  const [[c]] = await pool.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${t.deliveries}`);
  let have = Number(c!.n);
  while (have < total) {
    const n = Math.min(100_000, total - have);
    await pool.query(
      `INSERT INTO ${t.deliveries} (endpoint_id, event_pk, event_type, status, attempts, next_attempt_at, created_at, completed_at)
       SELECT 1 + seq % 20, 1, ELT(1 + seq % 4, 'enrollment.created', 'order.created', 'payment.completed', 'lesson.completed'),
              IF(seq % 100 = 0, 'pending', IF(seq % 10 = 1, 'failed', 'succeeded')), 1,
              IF(seq % 100 = 0, NOW(3) - INTERVAL 1 SECOND, NULL), NOW(3) - INTERVAL (seq % 86400) SECOND, NOW(3)
         FROM seq_1_to_${n}`,
    );
    await pool.query(
      `INSERT INTO ${t.attempts} (delivery_id, attempt_no, started_at, duration_ms, outcome, status_code, request_url, request_headers, worker)
       SELECT ${have} + seq, 1, NOW(3), 12, 'success', 200, 'http://x/', '{}', 'bench' FROM seq_1_to_${n}`,
    );
    have += n;
  }
  await pool.query(`ANALYZE TABLE ${t.deliveries}, ${t.attempts}`);
}

async function scaleFigures(db: TestDb) {
  const pool = createPool(parseDatabaseUrl(db.url), 4);
  const t = tableNames('scale_');
  await migrate(pool, t, silentLogger);
  await pool.query(`INSERT INTO ${t.endpoints} (url, events, secret) SELECT 'http://x/', '["*"]', 's' FROM seq_1_to_20`);
  await pool.query(`INSERT INTO ${t.events} (event_id, event_type, body, occurred_at) VALUES ('evt_scale', 'enrollment.created', '{}', NOW(3))`);
  const claim = `SELECT id, endpoint_id FROM ${t.deliveries} WHERE status = 'pending' AND next_attempt_at <= NOW(3) ORDER BY next_attempt_at LIMIT 128 FOR UPDATE SKIP LOCKED`;
  const logPage = `SELECT d.id, d.status, ev.event_id FROM ${t.deliveries} d STRAIGHT_JOIN ${t.events} ev ON ev.id = d.event_pk ORDER BY d.id DESC LIMIT 50`;
  const logFiltered = `SELECT d.id, d.status, ev.event_id FROM ${t.deliveries} d STRAIGHT_JOIN ${t.events} ev ON ev.id = d.event_pk WHERE d.endpoint_id = ? AND d.status = ? ORDER BY d.id DESC LIMIT 50`;
  const attemptsOf = `SELECT * FROM ${t.attempts} WHERE delivery_id = ? ORDER BY id`;
  const out: Record<string, { small: number; large: number; plan: string }> = {};
  const sizes = [scale(10_000), scale(1_000_000)];
  for (const [i, size] of sizes.entries()) {
    await fillTo(pool, t, size);
    const measures: [string, string, unknown[], boolean][] = [
      ['claim', claim, [], true],
      ['log page', logPage, [], false],
      ['log page (endpoint+status)', logFiltered, [7, 'failed'], false],
      ['attempts of a delivery', attemptsOf, [Math.floor(size / 2)], false],
    ];
    for (const [name, sql, params, tx] of measures) {
      const ms = await timeQuery(pool, sql, params, 50, tx);
      out[name] ??= { small: 0, large: 0, plan: '' };
      if (i === 0) out[name]!.small = ms;
      else {
        out[name]!.large = ms;
        out[name]!.plan = await explainKeys(pool, sql.replace(' FOR UPDATE SKIP LOCKED', ''), params);
      }
    }
  }
  await pool.end();
  return { out, sizes };
}

/** Thrown to end a partial run early, not a failure. */
class Done extends Error {}

// ---- the run ----
const db = await createTestDb('bench');
let failed = false;
try {
  // 1. raw ceiling
  const raw = await new Promise<{ rate: number; cpuUs?: number }>((resolve, reject) => {
    const c = fork(here('./raw.js'), [recvUrl, String(scale(20_000)), String(CONCURRENCY)], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let out = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as { rate: number; cpuUs?: number }) : reject(new Error(`raw exited ${code}`))));
  });
  report('raw_got_per_s', `raw got, ${CONCURRENCY} in flight`, raw.rate, '/s');

  // 2. drain
  let sc = await startSidecar(db);
  if (DRAIN_ONLY > 0) {
    const d = await drain(db, sc.api, 'bench.drainonly', DRAIN_ONLY, 1, sc.child.proc.pid);
    report('drain_only_per_s', `drain ${DRAIN_ONLY} events × 1 endpoint`, d, '/s');
    report('drain_only_ratio', 'drain ÷ raw got', d / raw.rate, '');
    report('drain_only_cpu_us', 'sidecar CPU per delivery', perDelivery.cpuUs, 'µs');
    report('drain_only_queries', 'database statements per delivery', perDelivery.queries, '');
    if (raw.cpuUs) report('raw_cpu_us', 'raw got CPU per request', raw.cpuUs, 'µs');
    await stopSidecar(sc.child);
    throw new Done();
  }
  if (FILTERED_ONLY > 0) {
    const plain = await drain(db, sc.api, 'bench.plainf', FILTERED_ONLY, 1, sc.child.proc.pid);
    const plainCpu = perDelivery.cpuUs;
    const filter = { all: [{ path: 'data.course_id', op: 'eq', value: 'course_abc123' }, { path: 'data.student_id', op: 'exists' }, { path: 'event', op: 'in', value: ['bench.filteredonly', 'x'] }] };
    const f = await drain(db, sc.api, 'bench.filteredonly', FILTERED_ONLY, 1, sc.child.proc.pid, { filter });
    report('plainf_per_s', `drain ${FILTERED_ONLY} events, no filter`, plain, '/s');
    report('plainf_cpu_us', 'sidecar CPU per delivery (no filter)', plainCpu, 'µs');
    report('filtered_only_per_s', `drain ${FILTERED_ONLY} events through a 3-condition filter`, f, '/s');
    report('filtered_only_cpu_us', 'sidecar CPU per delivery (filtered)', perDelivery.cpuUs, 'µs');
    await stopSidecar(sc.child);
    throw new Done();
  }
  if (ORDERED_ONLY > 0) {
    const plain = await drain(db, sc.api, 'bench.plainonly', ORDERED_ONLY, 1, sc.child.proc.pid, { keys: 1000 });
    report('plain_only_per_s', `drain ${ORDERED_ONLY} keyed events, unordered endpoint`, plain, '/s');
    const ord = await drain(db, sc.api, 'bench.orderedonly', ORDERED_ONLY, 1, sc.child.proc.pid, { keys: 1000, ordered: true });
    report('ordered_only_per_s', `drain ${ORDERED_ONLY} events over 1,000 keys, ordered endpoint`, ord, '/s');
    report('ordered_only_ratio', 'ordered ÷ unordered', ord / plain, '', { text: '≥ 0.8', ok: ord / plain >= 0.8 });
    report('ordered_only_cpu_us', 'sidecar CPU per delivery (ordered)', perDelivery.cpuUs, 'µs');
    report('ordered_only_queries', 'database statements per delivery (ordered)', perDelivery.queries, '');
    await stopSidecar(sc.child);
    throw new Done();
  }
  const d1 = await drain(db, sc.api, 'bench.drain1', scale(20_000), 1, sc.child.proc.pid);
  report('drain_1x_per_s', `drain ${scale(20_000)} events × 1 endpoint`, d1, '/s');
  report('drain_1x_ratio', 'drain ÷ raw got (1 endpoint)', d1 / raw.rate, '', { text: '≥ 0.8', ok: d1 / raw.rate >= 0.8 });
  report('drain_1x_cpu_us', 'sidecar CPU per delivery (1 endpoint)', perDelivery.cpuUs, 'µs');
  report('drain_1x_queries', 'database statements per delivery (1 endpoint)', perDelivery.queries, '');
  // The raw client's own CPU per request, measured in its run: the floor the sidecar is compared with.
  if (raw.cpuUs) report('raw_cpu_us', 'raw got CPU per request', raw.cpuUs, 'µs');
  const d4 = await drain(db, sc.api, 'bench.drain4', scale(5_000), 4);
  report('drain_4x_per_s', `drain ${scale(5_000)} events × 4 endpoints`, d4, '/s');
  report('drain_4x_ratio', 'drain ÷ raw got (4 endpoints)', d4 / raw.rate, '', { text: '≥ 0.8', ok: d4 / raw.rate >= 0.8 });
  // A filter every event passes (three conditions, so each is evaluated): the cost of filtering at fan-out.
  const filter = { all: [{ path: 'data.course_id', op: 'eq', value: 'course_abc123' }, { path: 'data.student_id', op: 'exists' }, { path: 'event', op: 'in', value: ['bench.filtered', 'x'] }] };
  const dF = await drain(db, sc.api, 'bench.filtered', scale(20_000), 1, sc.child.proc.pid, { filter });
  report('filtered_per_s', `drain ${scale(20_000)} events through a 3-condition filter`, dF, '/s');
  report('filtered_ratio', 'filtered ÷ the same drain unfiltered', dF / d1, '');
  report('filtered_cpu_us', 'sidecar CPU per delivery (filtered)', perDelivery.cpuUs, 'µs');
  // Ordered per key: the same drain as d1, over 1,000 keys to an ordered endpoint.
  const dOrd = await drain(db, sc.api, 'bench.ordered', scale(20_000), 1, sc.child.proc.pid, { keys: 1000, ordered: true });
  report('ordered_per_s', `drain ${scale(20_000)} events over 1,000 keys, ordered endpoint`, dOrd, '/s');
  report('ordered_ratio', 'ordered ÷ the same drain unordered', dOrd / d1, '', { text: '≥ 0.8', ok: dOrd / d1 >= 0.8 });
  report('ordered_cpu_us', 'sidecar CPU per delivery (ordered)', perDelivery.cpuUs, 'µs');
  report('ordered_queries', 'database statements per delivery (ordered)', perDelivery.queries, '');

  // 3. latency
  for (const rate of [100, 500]) {
    const l = await latency(db, sc.api, `bench.lat${rate}`, rate, QUICK ? 3 : 10);
    report(`latency_${rate}_p50_ms`, `latency at ${rate}/s p50`, l.p50, 'ms', rate === 100 ? { text: '≤ 300 ms', ok: l.p50 <= 300 } : undefined);
    report(`latency_${rate}_p95_ms`, `latency at ${rate}/s p95`, l.p95, 'ms');
    report(`latency_${rate}_p99_ms`, `latency at ${rate}/s p99`, l.p99, 'ms', {
      text: rate === 100 ? '≤ 1000 ms' : '≤ 1500 ms',
      ok: l.p99 <= (rate === 100 ? 1000 : 1500),
    });
  }

  // 6. replicas (the 1-process figure is the drain above)
  const second = await startSidecar(db);
  const d2 = await drain(db, sc.api, 'bench.replicas', scale(20_000), 1);
  report('replicas_2_per_s', '2 sidecar processes, 20,000 × 1', d2, '/s');
  report('replicas_2_ratio', '2 processes ÷ 1 process', d2 / d1, '');
  await stopSidecar(second.child);

  // idle cost
  await sleep(2000);
  const q0 = await questions(db.pool);
  const c0 = cpuTicks(sc.child.proc.pid!);
  const idleSecs = QUICK ? 3 : 10;
  await sleep(idleSecs * 1000);
  const cpuPct = ((cpuTicks(sc.child.proc.pid!) - c0) / 100 / idleSecs) * 100;
  const qps = ((await questions(db.pool)) - q0 - 2) / idleSecs;
  report('idle_cpu_pct', 'idle CPU (one sidecar, nothing due)', cpuPct, '% of a core', { text: '< 2 %', ok: cpuPct < 2 });
  report('idle_queries_per_s', 'idle queries to MariaDB', qps, '/s');
  await stopSidecar(sc.child);

  // 4. memory, on a fresh process so the high-water mark is this phase's alone
  sc = await startSidecar(db);
  const m = await drain(db, sc.api, 'bench.memory', scale(100_000), 1);
  const rss = peakRssMb(sc.child.proc.pid!);
  report('memory_drain_per_s', `drain ${scale(100_000)} (memory run)`, m, '/s');
  report('peak_rss_mb', `peak RSS draining ${scale(100_000)}`, rss, 'MB', { text: '≤ 150 MB', ok: rss <= 150 });
  await stopSidecar(sc.child);

  // 5. scale
  const { out, sizes } = await scaleFigures(db);
  for (const [name, v] of Object.entries(out)) {
    report(`${name}_small_ms`, `${name} at ${sizes[0]} rows`, v.small, 'ms');
    report(`${name}_large_ms`, `${name} at ${sizes[1]} rows (${v.plan})`, v.large, 'ms');
    const ratio = v.large / v.small;
    report(`${name}_ratio`, `${name}: ${sizes[1]} ÷ ${sizes[0]}`, ratio, '', name === 'claim' || name.startsWith('log page') ? { text: '≤ 2', ok: ratio <= 2 } : undefined);
  }
} catch (err) {
  if (!(err instanceof Done)) {
    failed = true;
    process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  }
} finally {
  recv.send({ cmd: 'exit' });
  await db.drop();
}

if (JSON_OUT) {
  process.stdout.write(JSON.stringify({ date: new Date().toISOString(), quick: QUICK, figures }, null, 2) + '\n');
} else {
  const w = Math.max(...rows.map((r) => r.figure.length));
  const v = Math.max(...rows.map((r) => r.value.length));
  process.stdout.write(`\n| ${'figure'.padEnd(w)} | ${'value'.padEnd(v)} | target |\n|${'-'.repeat(w + 2)}|${'-'.repeat(v + 2)}|---|\n`);
  for (const r of rows) process.stdout.write(`| ${r.figure.padEnd(w)} | ${r.value.padEnd(v)} | ${r.target ? `${r.target} ${r.ok ? '✔' : '✘'}` : ''} |\n`);
}
process.exit(failed ? 1 : 0);
