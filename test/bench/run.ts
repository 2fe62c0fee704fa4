/**
 * `npm run bench`: prints the performance table (README "Performance").
 * Everything runs on this machine: a fresh database on the local MariaDB,
 * the receiver in its own process, the sidecar as real child processes.
 * Options: --json (machine-readable), --quick (smaller runs, for a smoke test),
 * --drain-only=N (just the raw ceiling and one drain of N events × 1 endpoint),
 * --ordered-only=N (N keyed events drained unordered, then ordered per key over 1,000 keys),
 * --filtered-only=N (N events drained without, then through, a 3-condition filter),
 * --memory-only=N (a fresh sidecar's idle RSS, then the peak RSS and major GCs of draining N deliveries),
 * --transform-only=N (CPU per run of a trivial and a realistic transformation in the sandbox, N runs each, and the RSS after),
 * --cost-only=N (what a drain of N events × 1 endpoint costs the database: MariaDB CPU by statement class, rows and
 * redo written, bytes stored per delivery, and a WordPress query mix's latency idle vs. during the drain),
 * --network-only=N (a WordPress network of two sites: the quiet site's latency alone, then while the main site drains N),
 * --hostile-only=N (N deliveries to a healthy endpoint alone, then beside an endpoint whose transformation is hostile,
 * each kind in turn: the healthy one's rate and p99).
 * Environment: BENCH_CPU_PROF=dir (a V8 CPU profile per sidecar process), BENCH_TRANSFORM=1 (--memory-only
 * deliveries go through a realistic transformation),
 * BENCH_NODE_FLAGS='--flag …' (appended to npm start's node flags, to measure them).
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { createTestDb, insertOutbox, type TestDb } from '../support/db.js';
import { apiClient, spawnSidecar, START_FLAGS, testEnv, type Api, type Child } from '../support/sidecar.js';
import { sleep, waitFor } from '../support/wait.js';
import { freePort } from '../support/net.js';
import { createPool } from '../../src/db/pool.js';
import { parseDatabaseUrl } from '../../src/db/databaseUrl.js';
import { migrate } from '../../src/db/migrate.js';
import { tableNames, type Tables } from '../../src/db/tables.js';
import { countDeliveriesSql, listDeliveriesSql, payloadPlan, payloadProbeSql } from '../../src/db/deliveryLog.js';
import { silentLogger } from '../../src/log.js';
import { DEFAULT_SETTINGS } from '../../src/types.js';
import { networkFigures } from './network.js';
import { cpuTicks, peakRssMb, rssMb } from './proc.js';
import { hostileFigures, hostileRunFigures } from './hostile.js';

const JSON_OUT = process.argv.includes('--json');
const QUICK = process.argv.includes('--quick');
const DRAIN_ONLY = Number(process.argv.find((a) => a.startsWith('--drain-only='))?.split('=')[1] ?? 0);
const FILTERED_ONLY = Number(process.argv.find((a) => a.startsWith('--filtered-only='))?.split('=')[1] ?? 0);
const SCALE_ONLY = process.argv.includes('--scale-only');
const SLOW_ONLY = process.argv.includes('--slow-only');
const MEMORY_ONLY = Number(process.argv.find((a) => a.startsWith('--memory-only='))?.split('=')[1] ?? 0);
const TRANSFORM_ONLY = Number(process.argv.find((a) => a.startsWith('--transform-only='))?.split('=')[1] ?? 0);
const COST_ONLY = Number(process.argv.find((a) => a.startsWith('--cost-only='))?.split('=')[1] ?? 0);
const NETWORK_ONLY = Number(process.argv.find((a) => a.startsWith('--network-only='))?.split('=')[1] ?? 0);
const HOSTILE_ONLY = Number(process.argv.find((a) => a.startsWith('--hostile-only='))?.split('=')[1] ?? 0);
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
  rows.push({
    figure,
    value: `${value >= 100 ? Math.round(value) : value.toFixed(2)} ${unit}`.trim(),
    target: target?.text,
    ok: target?.ok,
  });
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
const { port: recvPort } = await new Promise<{ port: number }>((r) =>
  recv.once('message', (m) => r(m as { port: number })),
);
const recvUrl = `http://127.0.0.1:${recvPort}/hook`;

async function startSidecar(db: TestDb): Promise<{ child: Child; api: Api }> {
  const port = await freePort();
  // Default concurrency (128 overall, 64 per endpoint): one endpoint gets the raw run's 64 in flight.
  // BENCH_CPU_PROF=dir writes a V8 CPU profile of each sidecar process there (node --cpu-prof).
  const prof = [
    ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
    ...(process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? []),
  ];
  const child = spawnSidecar(testEnv(db.url, { PORT: String(port), LOG_LEVEL: 'warn' }), prof);
  const api = apiClient(`http://127.0.0.1:${port}`);
  await waitFor('sidecar up', async () => (await api('GET', '/healthz', undefined, null)).status === 200, 30_000, 100);
  // Throughput figures are the sidecar unpaced; the cost run measures the default pace as its own row.
  await setPace(api, 0);
  return { child, api };
}

/** max_deliveries_per_second (0: no cap); the running sidecar reads settings again within its refresh. */
async function setPace(api: Api, perSecond: number) {
  const r = await api('PATCH', '/api/settings', { max_deliveries_per_second: perSecond });
  if (r.status !== 200) throw new Error(`PATCH /api/settings: ${r.status} ${JSON.stringify(r.body)}`);
}

async function stopSidecar(c: Child) {
  c.proc.kill('SIGTERM');
  await c.exited;
}

/**
 * From the sidecar's /metrics: statements sent (webhooks_db_queries_total),
 * and its garbage collections (prom-client's nodejs_gc_duration_seconds).
 */
async function sidecarCounters(api: Api): Promise<{ queries: number; gcSeconds: number; majorGcs: number }> {
  const text = String((await api('GET', '/metrics', undefined, null)).body);
  const gcSeconds = [...text.matchAll(/^nodejs_gc_duration_seconds_sum\{kind="\w+"\} ([\d.e-]+)/gm)].reduce(
    (a, m) => a + Number(m[1]),
    0,
  );
  return {
    queries: Number(/^webhooks_db_queries_total (\d+)/m.exec(text)?.[1] ?? NaN),
    gcSeconds,
    majorGcs: Number(/^nodejs_gc_duration_seconds_count\{kind="major"\} (\d+)/m.exec(text)?.[1] ?? 0),
  };
}

/**
 * Cost per delivery of the last drain: CPU of the sidecar process, statements
 * it sent and its GC; and what the rest of this 2-core box spent on it — the
 * receiver process and MariaDB — which the raw run has only the first of.
 */
const perDelivery = { cpuUs: NaN, queries: NaN, receiverUs: NaN, mariadbUs: NaN, gcUs: NaN, majorGcs: NaN };

/** MariaDB's server process, read from its pid file; null where the server is elsewhere. */
async function mariadbPid(pool: Pool): Promise<number | null> {
  try {
    const [[r]] = await pool.query<RowDataPacket[]>('SELECT @@pid_file AS f');
    const pid = Number(readFileSync(String(r!.f), 'utf8').trim());
    cpuTicks(pid);
    return pid;
  } catch {
    return null;
  }
}

/** `keys`: rows carry ordering_key student_(i mod keys); `ordered`: the endpoints are ordered per key. */
async function drain(
  db: TestDb,
  api: Api,
  type: string,
  events: number,
  endpoints: number,
  pid?: number,
  opts: {
    keys?: number;
    ordered?: boolean;
    filter?: unknown;
    delayMs?: number;
    transformation?: string;
    /** The event's data for row i (default: a student and a course). */
    payload?: (i: number) => Record<string, unknown>;
    /** Called once the rows are in the outbox, before the wait for the drain (the cost run's site mix starts here). */
    inserted?: () => Promise<void>;
  } = {},
): Promise<number> {
  for (let i = 0; i < endpoints; i++) {
    await api('POST', '/api/endpoints', {
      url: `${recvUrl}?e=${i}${opts.delayMs ? `&delay=${opts.delayMs}` : ''}`,
      events: [type],
      confirm: true,
      ordered: opts.ordered === true,
      ...(opts.filter ? { filter: opts.filter } : {}),
      ...(opts.transformation ? { transformation: opts.transformation } : {}),
    });
  }
  await ask('reset');
  const q0 = await sidecarCounters(api);
  const c0 = pid ? cpuTicks(pid) : 0;
  const dbPid = await mariadbPid(db.pool);
  const r0 = cpuTicks(recv.pid!);
  const m0 = dbPid ? cpuTicks(dbPid) : 0;
  const t0 = Date.now();
  const key = (i: number) => (opts.keys ? `student_${i % opts.keys}` : null);
  await insertOutbox(
    db.pool,
    Array.from({ length: events }, (_, i) => ({
      type,
      payload: opts.payload ? opts.payload(i) : { student_id: `student_${i}`, course_id: 'course_abc123' },
      ...(opts.keys ? { key: key(i) } : {}),
    })),
  );
  await opts.inserted?.();
  const total = events * endpoints;
  const s = await waitFor(
    'drain',
    async () => {
      const st = await ask<Stats>('stats');
      return st.count >= total ? st : null;
    },
    600_000,
    100,
  );
  // Results are recorded in batches after receipt: let the last batch land before counting.
  await sleep(300);
  if (pid) perDelivery.cpuUs = ((cpuTicks(pid) - c0) * 10_000) / total;
  perDelivery.receiverUs = ((cpuTicks(recv.pid!) - r0) * 10_000) / total;
  perDelivery.mariadbUs = dbPid ? ((cpuTicks(dbPid) - m0) * 10_000) / total : NaN;
  const q1 = await sidecarCounters(api);
  perDelivery.queries = (q1.queries - q0.queries - 1) / total;
  perDelivery.gcUs = ((q1.gcSeconds - q0.gcSeconds) * 1e6) / total;
  perDelivery.majorGcs = q1.majorGcs - q0.majorGcs;
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
      await insertOutbox(
        db.pool,
        Array.from({ length: n }, () => ({ type, payload: { t } })),
      );
      sent += n;
    }
    await sleep(Math.max(0, tickMs - (Date.now() - started)));
  }
  const s = await waitFor(
    'latency receipts',
    async () => {
      const st = await ask<Stats>('stats');
      return st.count >= sent ? st : null;
    },
    120_000,
    100,
  );
  const l = [...s.latencies].sort((a, b) => a - b);
  const q = (p: number) => l[Math.min(l.length - 1, Math.floor((p / 100) * l.length))] ?? NaN;
  return { p50: q(50), p95: q(95), p99: q(99), achieved: sent / seconds };
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

/** db/events searchTerm in SQL, as migration 000014 computes it. */
const SQL_TERM = (path: string, value: string) =>
  `UNHEX(LEFT(SHA2(CONCAT(CAST(${path} AS BINARY), CHAR(0 USING binary), CAST(${value} AS BINARY)), 256), 16))`;

/** Days the scale run's deliveries are spread over, oldest first (ids grow with time, as in production). */
const SCALE_DAYS = 30;
/** Distinct students in the scale run's payloads: each has SCALE_MAX / STUDENTS deliveries. */
const STUDENTS = 50_000;
/** Distinct courses: each has a tenth of all deliveries, the worst case a payload search meets. */
const COURSES = 10;

/**
 * Fills deliveries and attempts to `total` rows: ~1% pending due, the rest
 * done, spread over 20 endpoints and SCALE_DAYS days; one event per delivery
 * with its payload search terms (data.student_id, data.course_id), as fan-out writes them.
 */
async function fillTo(pool: Pool, t: Tables, total: number, max: number) {
  const [[c]] = await pool.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${t.deliveries}`);
  let have = Number(c!.n);
  const secondsPerId = (SCALE_DAYS * 86400) / max;
  while (have < total) {
    const n = Math.min(100_000, total - have);
    await pool.query(
      `INSERT INTO ${t.events} (id, event_id, event_type, body, occurred_at, created_at)
       SELECT ${have} + seq + 1, CONCAT('evt_scale_', ${have} + seq), 'enrollment.created',
              CONCAT('{"data":{"student_id":"student_', (${have} + seq) % ${STUDENTS}, '","course_id":"course_', (${have} + seq) % ${COURSES}, '"}}'), NOW(3), NOW(3) - INTERVAL (${max} - ${have} - seq) * ${secondsPerId} SECOND
         FROM seq_1_to_${n}`,
    );
    await pool.query(
      `INSERT INTO ${t.eventTerms} (event_pk, term)
       SELECT ${have} + seq + 1, ${SQL_TERM("'data.student_id'", `CONCAT('student_', (${have} + seq) % ${STUDENTS})`)} FROM seq_1_to_${n}
       UNION ALL SELECT ${have} + seq + 1, ${SQL_TERM("'data.course_id'", `CONCAT('course_', (${have} + seq) % ${COURSES})`)} FROM seq_1_to_${n}`,
    );
    await pool.query(
      `INSERT INTO ${t.deliveries} (endpoint_id, event_pk, event_type, status, attempts, next_attempt_at, created_at, completed_at)
       SELECT 1 + seq % 20, ${have} + seq + 1, ELT(1 + seq % 4, 'enrollment.created', 'order.created', 'payment.completed', 'lesson.completed'),
              IF(seq % 100 = 0, 'pending', IF(seq % 10 = 1, 'failed', 'succeeded')), 1,
              IF(seq % 100 = 0, NOW(3) - INTERVAL 1 SECOND, NULL), NOW(3) - INTERVAL (${max} - ${have} - seq) * ${secondsPerId} SECOND, NOW(3)
         FROM seq_1_to_${n}`,
    );
    await pool.query(
      `INSERT INTO ${t.attempts} (delivery_id, attempt_no, started_at, duration_ms, outcome, status_code, request_url, request_headers, worker)
       SELECT ${have} + seq, 1, NOW(3), 12, 'success', 200, 'http://x/', '{}', 'bench' FROM seq_1_to_${n}`,
    );
    have += n;
  }
  await pool.query(`ANALYZE TABLE ${t.deliveries}, ${t.attempts}, ${t.events}, ${t.eventTerms}`);
}

async function scaleFigures(db: TestDb) {
  const pool = createPool(parseDatabaseUrl(db.url), 4);
  const t = tableNames('scale_');
  await migrate(pool, t, silentLogger);
  await pool.query(
    `INSERT INTO ${t.endpoints} (url, events, secret) SELECT 'http://x/', '["*"]', 's' FROM seq_1_to_20`,
  );
  await pool.query(
    `INSERT INTO ${t.events} (id, event_id, event_type, body, occurred_at) VALUES (1, 'evt_scale', 'enrollment.created', '{}', NOW(3))`,
  );
  const claim = `SELECT id, endpoint_id FROM ${t.deliveries} WHERE status = 'pending' AND next_attempt_at <= NOW(3) ORDER BY next_attempt_at LIMIT 128 FOR UPDATE SKIP LOCKED`;
  const logPage = `SELECT d.id, d.status, ev.event_id FROM ${t.deliveries} d STRAIGHT_JOIN ${t.events} ev ON ev.id = d.event_pk ORDER BY d.id DESC LIMIT 50`;
  const logFiltered = `SELECT d.id, d.status, ev.event_id FROM ${t.deliveries} d STRAIGHT_JOIN ${t.events} ev ON ev.id = d.event_pk WHERE d.endpoint_id = ? AND d.status = ? ORDER BY d.id DESC LIMIT 50`;
  const attemptsOf = `SELECT * FROM ${t.attempts} WHERE delivery_id = ? ORDER BY id`;
  const out: Record<string, { small: number; large: number; plan: string }> = {};
  const sizes = [scale(10_000), scale(1_000_000)];
  for (const [i, size] of sizes.entries()) {
    await fillTo(pool, t, size, sizes[1]!);
    // "Did student 42's enrollment go out?": the log's own queries (page and count), bounded to 7 days as the issue asks.
    // The plan the pages pick for each value (one bounded probe, timed below as its own row).
    const week = new Date(Date.now() - 7 * 86400_000);
    const search = {
      data: [['data.student_id', 'student_42']] as [string, string][],
      createdFrom: week,
      dataPlan: await payloadPlan(pool, t, [['data.student_id', 'student_42']]),
    };
    const searchPage = listDeliveriesSql(t, { ...search, limit: 50 });
    const searchCount = countDeliveriesSql(t, search, 10_000);
    const popular = {
      data: [['data.course_id', 'course_3']] as [string, string][],
      createdFrom: week,
      dataPlan: await payloadPlan(pool, t, [['data.course_id', 'course_3']]),
    };
    const popularPage = listDeliveriesSql(t, { ...popular, limit: 50 });
    const popularCount = countDeliveriesSql(t, popular, 10_000);
    const probe = payloadProbeSql(t, 'data.course_id', 'course_3');
    const measures: [string, string, unknown[], boolean][] = [
      ['claim', claim, [], true],
      ['log page', logPage, [], false],
      ['log page (endpoint+status)', logFiltered, [7, 'failed'], false],
      ['attempts of a delivery', attemptsOf, [Math.floor(size / 2)], false],
      ['payload search, 7 days (page)', searchPage.sql, searchPage.params, false],
      ['payload search, 7 days (count)', searchCount.sql, searchCount.params, false],
      ['payload search, a tenth of all rows, 7 days (page)', popularPage.sql, popularPage.params, false],
      ['payload search, a tenth of all rows, 7 days (count)', popularCount.sql, popularCount.params, false],
      ['payload search plan probe (common value)', probe.sql, probe.params, false],
    ];
    for (const [name, sql, params, tx] of measures) {
      const ms = await timeQuery(pool, sql, params, 50, tx);
      out[name] ??= { small: 0, large: 0, plan: '' };
      if (i === 0) out[name].small = ms;
      else {
        out[name].large = ms;
        out[name].plan = await explainKeys(pool, sql.replace(' FOR UPDATE SKIP LOCKED', ''), params);
      }
    }
  }
  await pool.end();
  return { out, sizes };
}

/**
 * Where a delivery's CPU goes on this 2-core box, and what 0.8 × raw would
 * leave the sidecar: MariaDB and the receiver share the cores (the raw run
 * has no database), so the sidecar's budget per delivery is what remains of
 * the cores the drain kept busy — and of both cores, the most there is —
 * once they are paid. Compared with `floorUs`, the sidecar's own sign + send
 * with no database at all.
 */
function cpuBudget(prefix: string, raw: { rate: number; cpuUs?: number }, drainRate: number, floorUs: number) {
  if (!raw.cpuUs || Number.isNaN(perDelivery.mariadbUs)) return;
  report(`${prefix}_receiver_us`, 'receiver CPU per delivery', perDelivery.receiverUs, 'µs');
  report(`${prefix}_mariadb_us`, 'MariaDB CPU per delivery', perDelivery.mariadbUs, 'µs');
  report(
    `${prefix}_gc_us`,
    `sidecar GC pauses per delivery (${perDelivery.majorGcs} major GCs in the drain)`,
    perDelivery.gcUs,
    'µs',
  );
  const box = perDelivery.cpuUs + perDelivery.receiverUs + perDelivery.mariadbUs;
  const busy = (drainRate * box) / 1e6;
  report(
    `${prefix}_box_us`,
    `box CPU per delivery (sidecar + receiver + MariaDB), ${busy.toFixed(2)} cores busy`,
    box,
    'µs',
  );
  const target = 0.8 * raw.rate;
  const left = (cores: number) => (cores * 1e6) / target - perDelivery.receiverUs - perDelivery.mariadbUs;
  report(
    `${prefix}_budget_busy_us`,
    `sidecar CPU per delivery 0.8 × raw leaves on those ${busy.toFixed(2)} cores (sign + send alone: ${floorUs.toFixed(0)} µs)`,
    left(busy),
    'µs',
  );
  report(`${prefix}_budget_2cores_us`, `… and on 2 whole cores`, left(2), 'µs');
}

async function scaleReport(db: TestDb) {
  const { out, sizes } = await scaleFigures(db);
  for (const [name, v] of Object.entries(out)) {
    report(`${name}_small_ms`, `${name} at ${sizes[0]} rows`, v.small, 'ms');
    report(
      `${name}_large_ms`,
      `${name} at ${sizes[1]} rows (${v.plan})`,
      v.large,
      'ms',
      name.startsWith('payload search') ? { text: '< 1000 ms', ok: v.large < 1000 } : undefined,
    );
    const ratio = v.large / v.small;
    report(
      `${name}_ratio`,
      `${name}: ${sizes[1]} ÷ ${sizes[0]}`,
      ratio,
      '',
      name === 'claim' || name.startsWith('log page') ? { text: '≤ 2', ok: ratio <= 2 } : undefined,
    );
  }
}

/**
 * Slow receivers: 100 endpoints answering after 200 ms. The process keeps
 * CONCURRENCY (128) requests in flight, so the ideal is 128 / 0.2 s = 640
 * deliveries/s; the figure is how close scheduling gets to it.
 */
async function slowFigure(db: TestDb, api: Api) {
  const slowEvents = QUICK ? 10 : 60;
  const dSlow = await drain(db, api, 'bench.slow', slowEvents, 100, undefined, { delayMs: 200 });
  const ideal = 128 / 0.2;
  report('slow_100_per_s', `${slowEvents} events × 100 endpoints answering in 200 ms`, dSlow, '/s');
  report('slow_100_ratio', `÷ concurrency / latency (128 / 0.2 s = ${ideal}/s)`, dSlow / ideal, '', {
    text: '≥ 0.9',
    ok: dSlow / ideal >= 0.9,
  });
}

/** Runs a bench script in its own process (with this one's node flags unless given others) and returns the JSON line it prints. */
function forkJson<T>(script: string, args: string[], execArgv?: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const c = fork(here(script), args, {
      ...(execArgv ? { execArgv } : {}),
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    let out = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(`${script} ${args.join(' ')} exited ${code}`)),
    );
  });
}

/** got alone (`got`) or the sidecar's sign-and-send path (`sender`) POSTing in its own process: {rate, cpuUs}. */
const rawRun = (mode: 'got' | 'sender') =>
  forkJson<{ rate: number; cpuUs?: number }>('./raw.js', [recvUrl, String(scale(20_000)), String(CONCURRENCY), mode]);

/**
 * The pipeline with no HTTP (fan-out, claim, sign, record; the sender answers
 * at once), in its own process with npm start's node flags: {rate, cpuUs}.
 */
const pipelineRun = () =>
  forkJson<{ rate: number; cpuUs: number; gcUs: number; majorGcs: number }>(
    './pipeline.js',
    [String(scale(20_000))],
    START_FLAGS,
  );

/**
 * What a transformation costs per delivery: the sandbox run alone (a fresh
 * QuickJS runtime, the code compiled and run, the result checked), for a
 * trivial handler and a realistic one (rename fields, build a nested
 * body), and the RSS after N runs of each (the sandbox must not leak).
 */
async function transformFigures(n: number) {
  const { runTransformation, closeTransformPool } = await import('../../src/delivery/transform.js');
  const input = {
    method: 'POST' as const,
    url: 'https://crm.example.com/intake',
    eventType: 'enrollment.created',
    body: JSON.stringify({
      id: 'evt_1',
      event: 'enrollment.created',
      created_at: '2026-12-06T10:00:00Z',
      data: SAMPLE_DATA,
    }),
  };
  const codes = {
    trivial: 'function handler(webhook) { return webhook; }',
    realistic: REALISTIC_TRANSFORMATION,
  };
  // This (the main) thread's CPU alone: what a run costs the thread that delivers is the message passing.
  const mainCpuUs = () => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1000;
  for (const [name, code] of Object.entries(codes)) {
    await runTransformation(code, input);
    const cpu0 = process.cpuUsage();
    const main0 = mainCpuUs();
    for (let i = 0; i < n; i++) await runTransformation(code, input);
    const cpu = process.cpuUsage(cpu0);
    const mainUs = (mainCpuUs() - main0) / n;
    const allUs = (cpu.user + cpu.system) / n;
    report(
      `transform_${name}_cpu_us`,
      `${name} transformation, CPU per run, every thread (${n} runs)`,
      allUs,
      `µs (the delivering thread's share, message passing: ${mainUs.toFixed(0)} µs)`,
    );
    report(`transform_${name}_main_us`, `${name} transformation, the delivering thread's CPU per run`, mainUs, 'µs');
  }
  // This bench process's, harness included: the sidecar's own is --memory-only with BENCH_TRANSFORM=1.
  report('transform_rss_mb', `RSS of the bench process after ${2 * n} runs`, process.memoryUsage().rss / 1048576, 'MB');
  // The hostile runs get a pool of their own, measured from no workers at all.
  await closeTransformPool();
  await sleep(1000);
  await hostileRunFigures(report);
}

const REALISTIC_TRANSFORMATION = `function handler(webhook) {
  var d = webhook.payload.data;
  webhook.payload = { contact: { id: d.student_id, name: d.student_name }, enrolment: { course: d.course_id, at: webhook.payload.created_at },
    tags: ['lms', webhook.eventType.split('.')[0]] };
  return webhook;
}`;

const SAMPLE_DATA = {
  enrollment_id: 'enr_5501',
  student_id: 'student_xyz789',
  student_name: 'Ada Lovelace',
  student_email: 'ada@example.com',
  course_id: 'course_abc123',
  course_title: 'Analytical Engines 101',
  source: 'order',
};

// ---- what a delivery costs the database (--cost-only) ----

/** Redo log bytes written so far: the LSN, by MariaDB's or MySQL's name for it. */
async function redoLsn(pool: Pool): Promise<number> {
  const [r] = await pool.query<RowDataPacket[]>(
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_lsn_current', 'Innodb_redo_log_current_lsn')",
  );
  return r.length ? Number(r[0]!.Value) : NaN;
}

/**
 * The pipeline's statements by what they are for, from their digest text;
 * the first match names the class. The LMS's own outbox inserts (the bench
 * playing the site) are counted apart: they are the site's cost, not ours.
 */
const STATEMENT_CLASSES: [string, RegExp][] = [
  ['the LMS writing its outbox (not ours)', /^insert into `[^`]*webhook_outbox`/i],
  [
    'claim',
    /idx_due|set `claim_token` = \?|^select `d` \. `id` , `d` \. `attempts`|webhook_rate_limits|rate_limit_per_second|webhook_line_locks/i,
  ],
  ['record', /as `token`|webhook_attempts|`failing_since`/i],
  ['fan-out', /webhook_outbox|webhook_events|webhook_event_|webhook_deliveries` \(|webhook_endpoints/i],
  ['retention', /^delete/i],
  ['commit', /^(commit|begin|start transaction|rollback|set autocommit)/i],
];

interface StatementClass {
  calls: number;
  /** Server time, in picoseconds. */
  ps: number;
  rowsAffected: number;
}

async function performanceSchemaOn(pool: Pool): Promise<boolean> {
  const [[on]] = await pool.query<RowDataPacket[]>('SELECT @@performance_schema AS on_');
  return Boolean(Number(on!.on_));
}

/** Starts statementClasses' count again; false when performance_schema is off. */
async function resetStatementClasses(pool: Pool): Promise<boolean> {
  if (!(await performanceSchemaOn(pool))) return false;
  await pool.query('TRUNCATE TABLE performance_schema.events_statements_summary_by_digest');
  return true;
}

/** Server time per statement class since the last reset (performance_schema digests); null when it is off. */
async function statementClasses(pool: Pool, schema: string): Promise<Map<string, StatementClass> | null> {
  if (!(await performanceSchemaOn(pool))) return null;
  const [r] = await pool.query<RowDataPacket[]>(
    `SELECT DIGEST_TEXT AS text, COUNT_STAR AS calls, SUM_TIMER_WAIT AS ps, SUM_ROWS_AFFECTED AS affected
       FROM performance_schema.events_statements_summary_by_digest WHERE SCHEMA_NAME = ?`,
    [schema],
  );
  const out = new Map<string, StatementClass>();
  for (const x of r) {
    const text = String(x.text ?? '');
    const name = STATEMENT_CLASSES.find(([, re]) => re.test(text))?.[0] ?? 'other';
    const c = out.get(name) ?? { calls: 0, ps: 0, rowsAffected: 0 };
    c.calls += Number(x.calls);
    c.ps += Number(x.ps);
    c.rowsAffected += Number(x.affected);
    out.set(name, c);
    if (process.env.BENCH_DIGESTS) process.stderr.write(`    [${name}] ${x.calls} × ${text.slice(0, 160)}\n`);
  }
  return out;
}

/** Each statement class's share of MariaDB's CPU per delivery, by its share of server time. */
function reportClasses(key: string, classes: Map<string, StatementClass>, n: number, mariadbUs: number) {
  const total = [...classes.values()].reduce((a, c) => a + c.ps, 0);
  for (const [name, c] of [...classes].sort((a, b) => b[1].ps - a[1].ps))
    report(
      `${key}_class_${name.split(' ')[0]}_us`,
      `… ${name}: ${(c.calls / n).toFixed(3)} statements, ${(c.rowsAffected / n).toFixed(2)} rows written per delivery, ${((100 * c.ps) / total).toFixed(0)} % of server time`,
      (mariadbUs * c.ps) / total,
      'µs',
    );
}

/** Data + index bytes of each table of ours and of the outbox, after ANALYZE (InnoDB's page counts). */
async function storedBytes(
  pool: Pool,
  schema: string,
  t: Tables,
): Promise<{ ours: Map<string, number>; outbox: number }> {
  const [names] = await pool.query<RowDataPacket[]>(
    'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?',
    [schema],
  );
  await pool.query(`ANALYZE TABLE ${names.map((x) => `\`${String(x.name)}\``).join(', ')}`);
  const [r] = await pool.query<RowDataPacket[]>(
    `SELECT TABLE_NAME AS name, DATA_LENGTH + INDEX_LENGTH AS bytes FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?`,
    [schema],
  );
  const ours = new Map<string, number>();
  let outbox = 0;
  for (const x of r) {
    if (`\`${String(x.name)}\`` === t.outbox) outbox = Number(x.bytes);
    else ours.set(String(x.name).replace(/^wp_webhook_/, ''), Number(x.bytes));
  }
  return { ours, outbox };
}

/** A site's query mix in its own process (bench/siteMix.ts), on a database of its own on the same server. */
async function startSiteMix(outboxTable: string) {
  const site = await createTestDb('site');
  const proc = fork(here('./siteMix.js'), [site.url, outboxTable], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise((r) => proc.once('message', r));
  type Latency = { count: number; p50: number; p99: number };
  const measure = async (during: () => Promise<unknown>): Promise<Latency> => {
    proc.send({ cmd: 'start' });
    await during();
    const answer = new Promise<Latency>((r) => proc.once('message', (m) => r(m as Latency)));
    proc.send({ cmd: 'stop' });
    return answer;
  };
  const stop = async () => {
    proc.send({ cmd: 'exit' });
    await new Promise((r) => proc.once('exit', r));
    await site.drop();
  };
  return { measure, stop };
}

/** A 7-field payload (~230 bytes of envelope data), as an LMS's enrollment carries. */
const costPayload = (i: number) => ({ ...SAMPLE_DATA, enrollment_id: `enr_${i}`, student_id: `student_${i}` });

async function costFigures(db: TestDb, n: number) {
  const t = tableNames('wp_');
  const sc = await startSidecar(db);
  await drain(db, sc.api, 'bench.warmup', 2000, 1);
  const mix = await startSiteMix(`\`${db.name}\`.${t.outbox}`);
  try {
    const dbPid = await mariadbPid(db.pool);
    const idleTicks0 = dbPid ? cpuTicks(dbPid) : 0;
    const idle = await mix.measure(() => sleep(15_000));
    // MariaDB's CPU per second serving the site mix alone, taken off the paced figure below.
    const siteTicksPerS = dbPid ? (cpuTicks(dbPid) - idleTicks0) / 15 : 0;
    await resetStatementClasses(db.pool);
    const redo0 = await redoLsn(db.pool);
    let drained: Promise<number> = Promise.resolve(0);
    const during = await mix.measure(async () => {
      drained = drain(db, sc.api, 'bench.cost', n, 1, sc.child.proc.pid, { payload: costPayload });
      await drained;
    });
    const rate = await drained;
    const redo = (await redoLsn(db.pool)) - redo0;
    const classes = await statementClasses(db.pool, db.name);
    report('cost_per_s', `drain ${n} events × 1 endpoint (7-field payload)`, rate, '/s');
    report('cost_sidecar_cpu_us', 'sidecar CPU per delivery', perDelivery.cpuUs, 'µs');
    // MariaDB's CPU is read from /proc; performance_schema has no CPU column in MariaDB, so each class
    // is given the share of the whole that its statements' server time is.
    report(
      'cost_mariadb_us',
      'MariaDB CPU per delivery (its process, the LMS inserts included)',
      perDelivery.mariadbUs,
      'µs',
      {
        text: '≤ 120 µs',
        ok: perDelivery.mariadbUs <= 120,
      },
    );
    if (classes) {
      reportClasses('cost', classes, n, perDelivery.mariadbUs);
      const ours = [...classes].filter(([name]) => !name.includes('not ours'));
      report(
        'cost_rows_written',
        'rows written per delivery by our statements (inserted + updated + deleted)',
        ours.reduce((a, [, c]) => a + c.rowsAffected, 0) / n,
        '',
      );
    } else
      rows.push({
        figure: '… by statement class',
        value: 'performance_schema is off (start mariadbd with --performance-schema=ON)',
      });
    report('cost_statements', 'statements per delivery', perDelivery.queries, '');
    report(
      'cost_redo_bytes',
      'redo log bytes per delivery (the whole server, the LMS inserts included)',
      redo / n,
      'B',
    );
    const [[d]] = await db.pool.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${t.deliveries}`);
    const deliveries = Number(d!.n);
    const storage = async (when: string, key: string) => {
      const s = await storedBytes(db.pool, db.name, t);
      const ours = [...s.ours.values()].reduce((a, b) => a + b, 0) / deliveries;
      report(`cost_stored_${key}`, `bytes stored per delivery in our tables, ${when}`, ours, 'B', {
        text: '≤ 1,000 B',
        ok: ours <= 1000,
      });
      const big = [...s.ours].filter(([, b]) => b > 65536).sort((a, b) => b[1] - a[1]);
      rows.push({
        figure: '… by table',
        value: big.map(([name, b]) => `${name} ${Math.round(b / deliveries)}`).join(', '),
      });
      report(`cost_outbox_${key}`, `… and the LMS's outbox, ${when}`, s.outbox / deliveries, 'B');
    };
    await storage('after the drain', 'drain');
    // The first retention run a day later (nothing is 30 days old yet; what it removes is what is kept only briefly).
    const { pruneOnce } = await import('../../src/delivery/retention.js');
    await pruneOnce(db.pool, t, 30, silentLogger, new Date(Date.now() + 86_400_000 + 60_000));
    await storage('after the first retention run', 'retained');
    report('site_idle_p50_ms', `WordPress query mix p50, idle (${idle.count} operations)`, idle.p50, 'ms');
    report('site_idle_p99_ms', 'WordPress query mix p99, idle', idle.p99, 'ms');
    report('site_drain_p50_ms', `… p50 during the drain (${during.count} operations)`, during.p50, 'ms');
    report('site_drain_p99_ms', '… p99 during the drain', during.p99, 'ms');
    report('site_p99_ratio', 'p99 during the drain ÷ idle', during.p99 / idle.p99, '', {
      text: 'unpaced',
      ok: true,
    });
    // The same drain at the default pace: the site mix over 30 s of it.
    await setPace(sc.api, DEFAULT_SETTINGS.maxDeliveriesPerSecond);
    const type = 'bench.costpaced';
    await sc.api('POST', '/api/endpoints', { url: recvUrl, events: [type], confirm: true });
    await ask('reset');
    await insertOutbox(
      db.pool,
      Array.from({ length: n }, (_, i) => ({ type, payload: costPayload(i) })),
    );
    await sleep(3000);
    const r0 = (await ask<Stats>('stats')).count;
    await resetStatementClasses(db.pool);
    const pacedTicks0 = dbPid ? cpuTicks(dbPid) : 0;
    const paced = await mix.measure(() => sleep(30_000));
    const sent = (await ask<Stats>('stats')).count - r0;
    const pace = DEFAULT_SETTINGS.maxDeliveriesPerSecond;
    if (dbPid) {
      const us = ((cpuTicks(dbPid) - pacedTicks0 - siteTicksPerS * 30) * 10_000) / sent;
      report(
        'cost_paced_mariadb_us',
        `MariaDB CPU per delivery at the default pace (the site mix's share taken off)`,
        us,
        'µs',
        {
          text: '≤ 120 µs',
          ok: us <= 120,
        },
      );
      const pacedClasses = await statementClasses(db.pool, db.name);
      if (pacedClasses) reportClasses('cost_paced', pacedClasses, sent, us);
    }
    report(
      'site_paced_per_s',
      `deliveries per second at the default pace (max_deliveries_per_second ${pace})`,
      sent / 30,
      '/s',
    );
    report(
      'site_paced_p50_ms',
      `WordPress query mix p50 during the paced drain (${paced.count} operations)`,
      paced.p50,
      'ms',
    );
    report('site_paced_p99_ms', '… p99 during the paced drain', paced.p99, 'ms');
    report('site_paced_ratio', 'p99 during the paced drain ÷ idle', paced.p99 / idle.p99, '', {
      text: '≤ 1.5',
      ok: paced.p99 / idle.p99 <= 1.5,
    });
  } finally {
    await mix.stop();
    await stopSidecar(sc.child);
  }
}

/** The network figures, in a database of their own (a WordPress network installed into it). */
async function networkRun(n: number): Promise<void> {
  const netDb = await createTestDb('benchnet');
  try {
    await networkFigures(netDb, n, { report, ask, recvUrl, stop: stopSidecar });
  } finally {
    await netDb.drop();
  }
}

/** A fresh sidecar for the hostile-transformation rows (unpaced, as every throughput row). */
async function hostileRun(db: TestDb, n: number): Promise<void> {
  const sc = await startSidecar(db);
  try {
    await hostileFigures(db, sc.api, n, { report, ask, recvUrl, sidecarPid: sc.child.proc.pid! });
  } finally {
    await stopSidecar(sc.child);
  }
}

/** Thrown to end a partial run early, not a failure. */
class Done extends Error {}

// ---- the run ----
const db = await createTestDb('bench');
let failed = false;
try {
  if (SCALE_ONLY) {
    await scaleReport(db);
    throw new Done();
  }
  if (COST_ONLY > 0) {
    await costFigures(db, COST_ONLY);
    throw new Done();
  }
  if (NETWORK_ONLY > 0) {
    await networkRun(NETWORK_ONLY);
    throw new Done();
  }
  if (TRANSFORM_ONLY > 0) {
    await transformFigures(TRANSFORM_ONLY);
    throw new Done();
  }
  if (HOSTILE_ONLY > 0) {
    await hostileRun(db, HOSTILE_ONLY);
    throw new Done();
  }
  if (MEMORY_ONLY > 0) {
    // What a small host pays at rest, then the high-water mark of a long drain, on one fresh process.
    const sc = await startSidecar(db);
    await sleep(10_000);
    report('idle_rss_mb', 'RSS of a fresh sidecar after 10 s idle', rssMb(sc.child.proc.pid!), 'MB');
    // BENCH_TRANSFORM=1: every delivery also goes through a realistic transformation in the sandbox.
    const m = await drain(db, sc.api, 'bench.memoryonly', MEMORY_ONLY, 1, sc.child.proc.pid, {
      ...(process.env.BENCH_TRANSFORM ? { transformation: REALISTIC_TRANSFORMATION } : {}),
    });
    report('memory_only_per_s', `drain ${MEMORY_ONLY} (memory run)`, m, '/s');
    report('memory_only_cpu_us', 'sidecar CPU per delivery', perDelivery.cpuUs, 'µs');
    report('memory_only_major_gcs', 'major GCs in the drain', perDelivery.majorGcs, '');
    report('memory_only_rss_mb', `peak RSS draining ${MEMORY_ONLY}`, peakRssMb(sc.child.proc.pid!), 'MB', {
      text: '≤ 150 MB',
      ok: peakRssMb(sc.child.proc.pid!) <= 150,
    });
    await sleep(10_000);
    report('after_rss_mb', 'RSS 10 s after the drain', rssMb(sc.child.proc.pid!), 'MB');
    await stopSidecar(sc.child);
    throw new Done();
  }
  // 1. raw ceiling
  const rawRecv0 = cpuTicks(recv.pid!);
  const raw = await rawRun('got');
  report('raw_got_per_s', `raw got, ${CONCURRENCY} in flight`, raw.rate, '/s');
  report(
    'raw_receiver_us',
    'receiver CPU per request (raw run)',
    ((cpuTicks(recv.pid!) - rawRecv0) * 10_000) / scale(20_000),
    'µs',
  );
  // The sidecar's sign-and-send path alone (no database): what HTTP costs us, beside got's own floor.
  const alone = await rawRun('sender');
  report(
    'sender_alone_per_s',
    `sidecar's sign + send alone, ${CONCURRENCY} in flight, no database`,
    alone.rate,
    `/s (${(alone.cpuUs ?? NaN).toFixed(0)} µs CPU per request)`,
  );
  // …and the rest of the pipeline alone (no HTTP): the two add up to what a delivery should cost.
  const pipe = await pipelineRun();
  report(
    'pipeline_alone_per_s',
    'the pipeline alone: fan-out, claim, sign, record (no HTTP)',
    pipe.rate,
    `/s (${pipe.cpuUs.toFixed(0)} µs CPU per delivery, ${pipe.gcUs.toFixed(0)} µs of it in GC pauses, ${pipe.majorGcs} major GCs)`,
  );

  // 2. drain, after a warm-up drain that is not timed (JIT, pool connections), as the raw run warms up too
  let sc = await startSidecar(db);
  await drain(db, sc.api, 'bench.warmup', scale(2_000), 1);
  if (SLOW_ONLY) {
    await slowFigure(db, sc.api);
    await stopSidecar(sc.child);
    throw new Done();
  }
  if (DRAIN_ONLY > 0) {
    const d = await drain(db, sc.api, 'bench.drainonly', DRAIN_ONLY, 1, sc.child.proc.pid);
    report('drain_only_per_s', `drain ${DRAIN_ONLY} events × 1 endpoint`, d, '/s');
    report('drain_only_ratio', 'drain ÷ raw got', d / raw.rate, '');
    report('drain_only_cpu_us', 'sidecar CPU per delivery', perDelivery.cpuUs, 'µs');
    report('drain_only_queries', 'database statements per delivery', perDelivery.queries, '');
    if (raw.cpuUs) report('raw_cpu_us', 'raw got CPU per request', raw.cpuUs, 'µs');
    cpuBudget('drain_only', raw, d, alone.cpuUs ?? NaN);
    report('drain_only_major_gcs', 'major GCs in the drain', perDelivery.majorGcs, '');
    report('drain_only_rss_mb', 'peak RSS of the sidecar', peakRssMb(sc.child.proc.pid!), 'MB');
    await stopSidecar(sc.child);
    throw new Done();
  }
  if (FILTERED_ONLY > 0) {
    const plain = await drain(db, sc.api, 'bench.plainf', FILTERED_ONLY, 1, sc.child.proc.pid);
    const plainCpu = perDelivery.cpuUs;
    const filter = {
      all: [
        { path: 'data.course_id', op: 'eq', value: 'course_abc123' },
        { path: 'data.student_id', op: 'exists' },
        { path: 'event', op: 'in', value: ['bench.filteredonly', 'x'] },
      ],
    };
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
    const ord = await drain(db, sc.api, 'bench.orderedonly', ORDERED_ONLY, 1, sc.child.proc.pid, {
      keys: 1000,
      ordered: true,
    });
    report('ordered_only_per_s', `drain ${ORDERED_ONLY} events over 1,000 keys, ordered endpoint`, ord, '/s');
    report('ordered_only_ratio', 'ordered ÷ unordered', ord / plain, '', { text: '≥ 0.8', ok: ord / plain >= 0.8 });
    report('ordered_only_cpu_us', 'sidecar CPU per delivery (ordered)', perDelivery.cpuUs, 'µs');
    report('ordered_only_queries', 'database statements per delivery (ordered)', perDelivery.queries, '');
    await stopSidecar(sc.child);
    throw new Done();
  }
  const d1 = await drain(db, sc.api, 'bench.drain1', scale(20_000), 1, sc.child.proc.pid);
  report('drain_1x_per_s', `drain ${scale(20_000)} events × 1 endpoint`, d1, '/s');
  report('drain_1x_ratio', 'drain ÷ raw got (1 endpoint)', d1 / raw.rate, '', {
    text: '≥ 0.8',
    ok: d1 / raw.rate >= 0.8,
  });
  report('drain_1x_cpu_us', 'sidecar CPU per delivery (1 endpoint)', perDelivery.cpuUs, 'µs');
  report('drain_1x_queries', 'database statements per delivery (1 endpoint)', perDelivery.queries, '');
  // The raw client's own CPU per request, measured in its run: the floor the sidecar is compared with.
  if (raw.cpuUs) report('raw_cpu_us', 'raw got CPU per request', raw.cpuUs, 'µs');
  cpuBudget('drain_1x', raw, d1, alone.cpuUs ?? NaN);
  const d4 = await drain(db, sc.api, 'bench.drain4', scale(5_000), 4);
  report('drain_4x_per_s', `drain ${scale(5_000)} events × 4 endpoints`, d4, '/s');
  report('drain_4x_ratio', 'drain ÷ raw got (4 endpoints)', d4 / raw.rate, '', {
    text: '≥ 0.8',
    ok: d4 / raw.rate >= 0.8,
  });
  // A filter every event passes (three conditions, so each is evaluated): the cost of filtering at fan-out.
  const filter = {
    all: [
      { path: 'data.course_id', op: 'eq', value: 'course_abc123' },
      { path: 'data.student_id', op: 'exists' },
      { path: 'event', op: 'in', value: ['bench.filtered', 'x'] },
    ],
  };
  const dF = await drain(db, sc.api, 'bench.filtered', scale(20_000), 1, sc.child.proc.pid, { filter });
  report('filtered_per_s', `drain ${scale(20_000)} events through a 3-condition filter`, dF, '/s');
  report('filtered_ratio', 'filtered ÷ the same drain unfiltered', dF / d1, '');
  report('filtered_cpu_us', 'sidecar CPU per delivery (filtered)', perDelivery.cpuUs, 'µs');
  // Ordered per key: the same drain as d1, over 1,000 keys to an ordered endpoint.
  const dOrd = await drain(db, sc.api, 'bench.ordered', scale(20_000), 1, sc.child.proc.pid, {
    keys: 1000,
    ordered: true,
  });
  report('ordered_per_s', `drain ${scale(20_000)} events over 1,000 keys, ordered endpoint`, dOrd, '/s');
  report('ordered_ratio', 'ordered ÷ the same drain unordered', dOrd / d1, '', { text: '≥ 0.8', ok: dOrd / d1 >= 0.8 });
  report('ordered_cpu_us', 'sidecar CPU per delivery (ordered)', perDelivery.cpuUs, 'µs');
  report('ordered_queries', 'database statements per delivery (ordered)', perDelivery.queries, '');

  await slowFigure(db, sc.api);

  // 3. latency
  for (const rate of [100, 500]) {
    const l = await latency(db, sc.api, `bench.lat${rate}`, rate, QUICK ? 3 : 10);
    report(
      `latency_${rate}_p50_ms`,
      `latency at ${rate}/s p50`,
      l.p50,
      'ms',
      rate === 100 ? { text: '≤ 300 ms', ok: l.p50 <= 300 } : undefined,
    );
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
  report('idle_cpu_pct', 'idle CPU (one sidecar, nothing due)', cpuPct, '% of a core', {
    text: '< 2 %',
    ok: cpuPct < 2,
  });
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
  await scaleReport(db);

  // 8. one endpoint's hostile transformation beside a healthy endpoint
  await hostileRun(db, scale(2_000));

  // 7. fairness across a network's sites
  await networkRun(scale(20_000));
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
  process.stdout.write(
    `\n| ${'figure'.padEnd(w)} | ${'value'.padEnd(v)} | target |\n|${'-'.repeat(w + 2)}|${'-'.repeat(v + 2)}|---|\n`,
  );
  for (const r of rows)
    process.stdout.write(
      `| ${r.figure.padEnd(w)} | ${r.value.padEnd(v)} | ${r.target ? `${r.target} ${r.ok ? '✔' : '✘'}` : ''} |\n`,
    );
}
process.exit(failed ? 1 : 0);
