/**
 * What a hostile transformation costs the others (`npm run bench --
 * --hostile-only=N`, and a row of the full run): N deliveries to a healthy
 * endpoint while another endpoint of the same sidecar runs hostile code on
 * every event (each kind in turn), against the same N with no hostile
 * endpoint. And, in this process, what each hostile kind costs one run in
 * the transformation pool: wall time, the worker's CPU, the process's RSS
 * at its peak and after, and the longest this thread's event loop waited.
 */
import { cpuTicks, rssMb } from './proc.js';
import type { Api } from '../support/sidecar.js';
import type { TestDb } from '../support/db.js';
import { insertOutbox } from '../support/db.js';
import { sleep } from '../support/wait.js';

/** A student's name that makes the validation regex below backtrack for seconds (26 letters, then `!`). */
export const HOSTILE_NAME = `${'a'.repeat(26)}!`;

export const HOSTILE_KINDS: Record<string, string> = {
  'infinite loop': 'function handler(w) { for (;;) {} }',
  'memory bomb': 'function handler(w) { var a = []; for (;;) a.push(new Array(100000).fill(1)); }',
  '1 GB string': 'function handler(w) { w.payload = "x".repeat(1 << 30); return w; }',
  'deep recursion': 'function handler(w) { function f(n) { return f(n + 1) + 1; } return f(0); }',
  'regex backtracking on LMS input':
    'function handler(w) { if (!/^([A-Za-z]+\\s?)+$/.test(w.payload.data.student_name)) w.cancel = true; return w; }',
  'a 50 MB body returned': 'function handler(w) { w.payload = "x".repeat(50 << 20); return w; }',
};

const REPEATS = 3;
/** The second endpoint disabled instead of hostile (see drainBeside). */
const PAUSED = 'paused';

type Report = (
  key: string,
  figure: string,
  value: number,
  unit: string,
  target?: { text: string; ok: boolean },
) => void;
type Stats = { count: number; lastAt: number; latencies: number[] };

const slug = (kind: string) => kind.replace(/[^a-z0-9]+/gi, '_').toLowerCase();

/** One run of each hostile kind in a pool of this process: what it costs, measured from outside. */
export async function hostileRunFigures(report: Report): Promise<void> {
  const { createTransformPool, POOL_SIZE } = await import('../../src/delivery/transformPool.js');
  const bare = rssMb('self');
  const pool = createTransformPool();
  const input = {
    method: 'POST' as const,
    url: 'https://crm.example.com/intake',
    eventType: 'enrollment.created',
    body: JSON.stringify({ id: 'evt_1', event: 'enrollment.created', data: { student_name: HOSTILE_NAME } }),
  };
  // Every worker started and warm, so the figures are the hostile run's alone.
  await Promise.all(
    Array.from({ length: POOL_SIZE }, (_, i) =>
      pool.run(`warm${i}`, { op: 'run', code: 'function handler(w) { return w; }', ...input }),
    ),
  );
  await sleep(500);
  report(
    'transform_workers_rss_mb',
    `the pool's worker${POOL_SIZE > 1 ? 's' : ''} (${POOL_SIZE} on this host), started and idle: RSS added`,
    rssMb('self') - bare,
    'MB',
  );
  for (const [kind, code] of Object.entries(HOSTILE_KINDS)) {
    const before = rssMb('self');
    let peak = before;
    let maxGap = 0;
    let last = Date.now();
    const probe = setInterval(() => {
      const now = Date.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      peak = Math.max(peak, rssMb('self'));
    }, 5);
    const a = await pool.run(`hostile:${slug(kind)}`, { op: 'run', code, ...input });
    clearInterval(probe);
    await sleep(1000);
    const after = rssMb('self');
    const outcome = a.result.kind === 'error' ? a.result.message.slice(0, 60) : a.result.kind;
    report(
      `hostile_run_${slug(kind)}`,
      `hostile run, ${kind}: wall / worker CPU / loop held (${outcome})`,
      a.wallMs,
      `ms wall, ${a.cpuMs.toFixed(0)} ms worker CPU, main loop held ≤ ${maxGap} ms`,
    );
    report(
      `hostile_rss_${slug(kind)}`,
      `hostile run, ${kind}: process RSS before / peak / 1 s after`,
      before,
      `MB → ${peak.toFixed(0)} MB → ${after.toFixed(0)} MB`,
    );
  }
  await pool.close();
}

/**
 * N events to a healthy endpoint, each also fanned out to an endpoint with
 * the hostile code, against the same N just before with no hostile endpoint
 * (pairs, so this machine's drift over the run stays out of the ratio); the
 * healthy endpoint's rate and p99 insert → receipt. A bounded wait: the
 * figure is what arrived by then.
 */
export async function hostileFigures(
  db: TestDb,
  api: Api,
  n: number,
  deps: { report: Report; ask: <T>(cmd: string) => Promise<T>; recvUrl: string; sidecarPid: number },
): Promise<void> {
  const { report, ask, recvUrl } = deps;
  let round = 0;
  /**
   * One drain of n events; `code` gives a second endpoint its hostile
   * transformation, PAUSED makes the second endpoint a disabled one (its
   * deliveries are written, paused, and never claimed: the cost of a second
   * endpoint's fan-out alone, what a backing-off one costs at the least).
   */
  async function drainBeside(code: string | null) {
    const type = `bench.hostile.r${round++}`;
    const made: number[] = [];
    const healthy = await api('POST', '/api/endpoints', { url: `${recvUrl}?e=healthy`, events: [type], confirm: true });
    made.push(healthy.body.id as number);
    if (code !== null) {
      const bad = await api('POST', '/api/endpoints', {
        url: `${recvUrl}?e=hostile`,
        events: [type],
        confirm: true,
        ...(code === PAUSED ? { enabled: false } : { transformation: code }),
      });
      if (bad.status !== 201) throw new Error(`hostile endpoint: ${bad.status} ${JSON.stringify(bad.body)}`);
      made.push(bad.body.id as number);
    }
    await ask('reset');
    const t0 = Date.now();
    const cpu0 = cpuTicks(deps.sidecarPid);
    await insertOutbox(
      db.pool,
      Array.from({ length: n }, () => ({ type, payload: { t: t0, student_id: 's1', student_name: HOSTILE_NAME } })),
    );
    const deadline = Date.now() + 120_000;
    let st: Stats;
    for (;;) {
      st = await ask<Stats>('stats');
      if (st.count >= n || Date.now() > deadline) break;
      await sleep(100);
    }
    const cpuPct = ((cpuTicks(deps.sidecarPid) - cpu0) / ((Date.now() - t0) / 10)) * 100;
    const l = [...st.latencies].sort((a, b) => a - b);
    for (const id of made) await api('DELETE', `/api/endpoints/${id}`);
    return {
      rate: st.count / ((st.lastAt - t0) / 1000),
      count: st.count,
      p99: l[Math.min(l.length - 1, Math.floor(0.99 * l.length))] ?? NaN,
      cpuPct,
    };
  }
  await drainBeside(null); // warm-up (JIT, connections), untimed
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const [kind, code] of Object.entries(HOSTILE_KINDS)) {
    // Three pairs, alone then beside, and the medians: one drain of 2,000 varies by ±15 % here.
    const alone: Awaited<ReturnType<typeof drainBeside>>[] = [];
    const beside: typeof alone = [];
    const besidePaused: typeof alone = [];
    for (let i = 0; i < REPEATS; i++) {
      alone.push(await drainBeside(null));
      besidePaused.push(await drainBeside(PAUSED));
      beside.push(await drainBeside(code));
    }
    const a = { rate: median(alone.map((x) => x.rate)), p99: median(alone.map((x) => x.p99)) };
    const floor = median(besidePaused.map((x) => x.rate));
    const b = {
      rate: median(beside.map((x) => x.rate)),
      p99: median(beside.map((x) => x.p99)),
      cpuPct: median(beside.map((x) => x.cpuPct)),
      count: Math.min(...beside.map((x) => x.count)),
    };
    const ratio = b.rate / a.rate;
    report(
      `hostile_${slug(kind)}_ratio`,
      `healthy endpoint beside a hostile one (${kind}): rate ÷ alone, medians of ${REPEATS}`,
      ratio,
      `(${b.rate.toFixed(0)}/s vs ${a.rate.toFixed(0)}/s alone; ${(b.rate / floor).toFixed(2)} of ${floor.toFixed(0)}/s beside a disabled endpoint; at least ${b.count} of ${n} delivered; sidecar ${b.cpuPct.toFixed(0)} % of a core)`,
      { text: '≥ 0.9', ok: ratio >= 0.9 },
    );
    report(
      `hostile_${slug(kind)}_p99_extra_ms`,
      `…its p99 latency beside it vs alone (${kind})`,
      b.p99 - a.p99,
      `ms (p99 ${b.p99} ms vs ${a.p99} ms)`,
      { text: '≤ 1000 ms (one claim cycle)', ok: b.p99 - a.p99 <= 1000 },
    );
  }
}
