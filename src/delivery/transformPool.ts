/**
 * The transformation pool: a few worker threads, each with its own QuickJS
 * module (transformWorker.ts), that run endpoints' transformations off the
 * thread that claims, sends, records and serves pages. Whatever a handler
 * does, that thread only waits for a message.
 *
 * - Limits from outside: a job whose worker thread has used more CPU than
 *   the engine's own limit allows (read from /proc while it runs: a regex
 *   backtracking is never interrupted inside QuickJS), or that has not
 *   answered within its wall-clock limit, is ended by ending its worker (V8
 *   stops a thread even inside WebAssembly), and a fresh worker takes its
 *   place. V8's own heap in a
 *   worker is bounded by resourceLimits, QuickJS's memory by a WebAssembly
 *   memory with a maximum, and all of it goes back to the system when the
 *   worker ends: a worker whose memory grew is replaced after its job.
 * - Fair: jobs wait in one lane per endpoint (per site on a network), taken
 *   in turn, and a lane takes a second worker only while no other lane
 *   waits, so an endpoint whose code runs to its limit never holds the pool
 *   from another endpoint's job for longer than one run.
 * - Lazy: no worker exists until a transformation runs, and a worker idle
 *   for a minute ends, so a sidecar without transformations pays nothing.
 *
 * One pool per process, shared by every site a process serves.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { threadCpuMs } from './threadCpu.js';
import { TRANSFORM_LIMITS, type SandboxOutcome, type SandboxReply, type TransformInput } from './transformTypes.js';
import { TRANSFORMATION_BACKOFF_AFTER, waitSeconds } from '../db/transformBackoff.js';

const WORKER_URL = new URL('./transformWorker.js', import.meta.url);
/** The lane of "Save" and "Try it": the operator's own checks, which never back off. */
export const ADMIN_LANE = 'admin';
/** A worker with nothing to do for this long ends, and its memory with it. */
const IDLE_MS = 60_000;

/**
 * One worker per core past the first (the delivery loop keeps one), up to
 * four: one on a 2-core host, where a second worker measured no faster (the
 * loop and the database use both cores) and cost ~40 MB more at its peak.
 */
export const POOL_SIZE = Math.min(4, Math.max(1, availableParallelism() - 1));

type JobSpec = { op: 'check'; code: string } | ({ op: 'run'; code: string } & TransformInput);

interface Job {
  spec: JobSpec;
  lane: string;
  resolve: (r: PoolAnswer) => void;
}

/**
 * A lane's code failing run after run, as this process saw it: from the
 * TRANSFORMATION_BACKOFF_AFTER-th failure its jobs are answered `waiting`
 * without running until `retryAt` (the same wait the database records for
 * other processes and the pages). Checked when a job would start, so the
 * jobs already queued behind the failures do not each spend a worker.
 */
interface LaneHealth {
  code: string;
  failures: number;
  retryAt: number;
}

/** A job's outcome, with what it cost the worker. */
export interface PoolAnswer {
  result: SandboxOutcome;
  /** The worker's CPU for it (ms); the wall time when it was stopped from outside. */
  cpuMs: number;
  wallMs: number;
}

interface Slot {
  worker: Worker | null;
  ready: boolean;
  /** The worker thread's id, to read its CPU from /proc while a job runs (null: the wall clock alone). */
  tid: number | null;
  cpuAtStart: number;
  job: Job | null;
  jobId: number;
  startedAt: number;
  watchTimer: NodeJS.Timeout | null;
  idleTimer: NodeJS.Timeout | null;
}

export interface PoolStats {
  workers: number;
  busy: number;
  queued: number;
  /** Workers ended and replaced: jobs past the wall-clock limit, broken engines, grown memory. */
  replaced: number;
  /** Jobs ended from outside: past the CPU the engine should have stopped them at, or the wall-clock limit. */
  outsideStops: number;
}

/** A worker thread's CPU (0 where it cannot be read: the wall clock then decides). */
const workerCpuMs = (tid: number | null) => (tid === null ? 0 : (threadCpuMs(tid) ?? 0));

export function createTransformPool(
  size = POOL_SIZE,
  wallMs: number = TRANSFORM_LIMITS.wallMs,
  cpuLimitMs: number = TRANSFORM_LIMITS.outsideCpuMs,
) {
  const slots: Slot[] = Array.from({ length: size }, () => ({
    worker: null,
    ready: false,
    tid: null,
    cpuAtStart: 0,
    job: null,
    jobId: 0,
    startedAt: 0,
    watchTimer: null,
    idleTimer: null,
  }));
  /** Lanes with waiting jobs, in the order they take turns. */
  const lanes = new Map<string, Job[]>();
  /** Lanes whose code failed its last run (the admin lane never backs off). */
  const health = new Map<string, LaneHealth>();
  let nextId = 1;
  let queued = 0;
  let replaced = 0;
  let outsideStops = 0;

  function spawn(slot: Slot) {
    const worker = new Worker(WORKER_URL, {
      resourceLimits: {
        maxOldGenerationSizeMb: TRANSFORM_LIMITS.workerHeapMb,
        maxYoungGenerationSizeMb: 4,
        stackSizeMb: 4,
      },
      // Nothing of the sidecar's environment (database URL, tokens) reaches the thread running operators' code.
      env: {},
    });
    slot.worker = worker;
    slot.ready = false;
    worker.on('message', (m: SandboxReply | { ready: true; tid: number | null }) => {
      if (slot.worker !== worker) return;
      if ('ready' in m) {
        slot.ready = true;
        slot.tid = m.tid;
        dispatch();
        return;
      }
      if (m.id !== slot.jobId || !slot.job) return;
      const job = finish(slot);
      noteOutcome(job, m.result);
      job.resolve({ result: m.result, cpuMs: m.cpuMs, wallMs: Date.now() - slot.startedAt });
      if (m.replace) replace(slot);
      dispatch();
    });
    worker.on('error', (err: Error & { code?: string }) => {
      if (slot.worker !== worker) return;
      const message =
        err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `the transformation used more memory than its worker may have (${TRANSFORM_LIMITS.workerHeapMb} MB) and was stopped`
          : `the transformation's worker stopped: ${err.message}`;
      lost(slot, message);
    });
    worker.on('exit', () => {
      if (slot.worker === worker) lost(slot, "the transformation's worker stopped");
    });
  }

  /** The worker died under a job, or before it was ready: the job fails with why, and the slot starts afresh when needed. */
  function lost(slot: Slot, message: string) {
    replace(slot);
    if (slot.job) {
      const job = finish(slot);
      const result = { kind: 'error' as const, message, limit: true as const };
      noteOutcome(job, result);
      job.resolve({ result, cpuMs: 0, wallMs: Date.now() - slot.startedAt });
    } else if (!anyReady()) {
      // A pool whose workers cannot start must not leave jobs waiting for ever: the oldest waiting job hears why.
      const job = takeNext();
      job?.resolve({ result: { kind: 'error', message }, cpuMs: 0, wallMs: 0 });
    }
    dispatch();
  }

  /** Ends the slot's worker; the slot starts a fresh one when next needed. */
  function endWorker(slot: Slot): Promise<number> | undefined {
    const old = slot.worker;
    slot.worker = null;
    slot.ready = false;
    slot.tid = null;
    return old?.terminate();
  }

  function replace(slot: Slot) {
    replaced++;
    void endWorker(slot);
  }

  function finish(slot: Slot): Job {
    const job = slot.job!;
    if (slot.watchTimer) clearTimeout(slot.watchTimer);
    slot.watchTimer = null;
    slot.job = null;
    armIdle(slot);
    return job;
  }

  function armIdle(slot: Slot) {
    if (slot.idleTimer) clearTimeout(slot.idleTimer);
    slot.idleTimer = setTimeout(() => {
      slot.idleTimer = null;
      if (!slot.job) void endWorker(slot);
    }, IDLE_MS);
    slot.idleTimer.unref();
  }

  function noteOutcome(job: Job, result: SandboxOutcome) {
    if (job.lane === ADMIN_LANE || job.spec.op !== 'run') return;
    if (result.kind !== 'error') {
      health.delete(job.lane);
      return;
    }
    const h = health.get(job.lane);
    const counted = h && h.code === job.spec.code ? h.failures + 1 : 1;
    // A run stopped at a limit cost a worker its whole limit (and often the worker): back off at once.
    const failures = result.limit ? Math.max(counted, TRANSFORMATION_BACKOFF_AFTER) : counted;
    const wait = waitSeconds(failures);
    health.set(job.lane, { code: job.spec.code, failures, retryAt: wait === null ? 0 : Date.now() + wait * 1000 });
  }

  /** Answers a job whose lane's code is backing off without running it; true if it did. */
  function answeredWaiting(job: Job): boolean {
    const h = health.get(job.lane);
    if (!h || h.code !== job.spec.code) return false;
    const waitMs = h.retryAt - Date.now();
    if (waitMs <= 0) return false;
    job.resolve({ result: { kind: 'waiting', waitMs, failures: h.failures }, cpuMs: 0, wallMs: 0 });
    return true;
  }

  const anyReady = () => slots.some((s) => s.worker && s.ready);
  const running = (lane: string) => slots.some((s) => s.job?.lane === lane);

  /** The next job by turns over the lanes, skipping a lane that is already running. */
  function takeNext(): Job | undefined {
    // A lane already running gets a second worker only when no other lane waits: one busy endpoint may use
    // the whole pool, but never while another endpoint's job waits for it.
    for (const idleLanesOnly of [true, false]) {
      for (const [lane, jobs] of lanes) {
        if (idleLanesOnly && running(lane)) continue;
        const job = jobs.shift()!;
        queued--;
        // The lane goes to the back of the turn (re-inserted) or away when empty.
        lanes.delete(lane);
        if (jobs.length > 0) lanes.set(lane, jobs);
        return job;
      }
    }
    return undefined;
  }

  function dispatch() {
    for (const slot of slots) {
      if (queued === 0) break;
      if (slot.job) continue;
      if (!slot.worker) {
        spawn(slot);
        continue;
      }
      if (!slot.ready) continue;
      let job = takeNext();
      while (job && answeredWaiting(job)) job = takeNext();
      if (!job) break;
      start(slot, job);
    }
    // A worker keeps the process alive only while it has work (a job, or one waiting for it to start).
    for (const slot of slots) {
      if (!slot.worker) continue;
      if (slot.job || (!slot.ready && queued > 0)) slot.worker.ref();
      else slot.worker.unref();
    }
  }

  /**
   * Ends the slot's job from outside, the worker with it: past its wall-clock
   * limit, or past the CPU the engine's own limit should have stopped it at.
   */
  function stopFromOutside(slot: Slot, message: string) {
    outsideStops++;
    const cpuMs = threadCpuUsed(slot);
    const stopped = finish(slot);
    replace(slot);
    const result = { kind: 'error' as const, limit: true as const, message };
    noteOutcome(stopped, result);
    stopped.resolve({ result, cpuMs, wallMs: Date.now() - slot.startedAt });
    dispatch();
  }

  /**
   * Checks a running job no sooner than it could be over a limit: `ms` from
   * now, then again as soon as the rest of the CPU limit could be spent, and
   * at the wall-clock limit at the latest. A normal run ends before the first
   * check, so it costs one timer.
   */
  function watch(slot: Slot, jobId: number, ms: number) {
    slot.watchTimer = setTimeout(() => {
      if (slot.jobId !== jobId || !slot.job) return;
      const wall = Date.now() - slot.startedAt;
      if (wall >= wallMs)
        return stopFromOutside(
          slot,
          `the transformation ran longer than ${wallMs} ms and was stopped (a regular expression or code the CPU limit could not interrupt)`,
        );
      const used = threadCpuUsed(slot);
      if (used >= cpuLimitMs)
        return stopFromOutside(
          slot,
          `the transformation used more than ${cpuLimitMs} ms of CPU where the engine could not interrupt it (a regular expression, a collection near the memory limit) and was stopped`,
        );
      watch(slot, jobId, Math.max(5, Math.min(cpuLimitMs - used, wallMs - wall)));
    }, ms);
  }

  const threadCpuUsed = (slot: Slot) => workerCpuMs(slot.tid) - slot.cpuAtStart;

  function start(slot: Slot, job: Job) {
    if (slot.idleTimer) clearTimeout(slot.idleTimer);
    slot.idleTimer = null;
    slot.job = job;
    slot.jobId = nextId++;
    slot.startedAt = Date.now();
    slot.cpuAtStart = workerCpuMs(slot.tid);
    watch(slot, slot.jobId, cpuLimitMs);
    slot.worker!.postMessage({ id: slot.jobId, ...job.spec });
  }

  return {
    /** Runs a job in the pool, in the lane's turn. Never rejects. */
    run(lane: string, spec: JobSpec): Promise<PoolAnswer> {
      return new Promise<PoolAnswer>((resolve) => {
        const jobs = lanes.get(lane);
        if (jobs) jobs.push({ spec, lane, resolve });
        else lanes.set(lane, [{ spec, lane, resolve }]);
        queued++;
        dispatch();
      });
    },
    stats(): PoolStats {
      return {
        workers: slots.filter((s) => s.worker).length,
        busy: slots.filter((s) => s.job).length,
        queued,
        replaced,
        outsideStops,
      };
    },
    /** Ends every worker (jobs in flight fail); the pool starts them again when next used. */
    async close(): Promise<void> {
      const ending: Promise<number>[] = [];
      for (const slot of slots) {
        if (slot.job)
          finish(slot).resolve({
            result: { kind: 'error', message: 'the sidecar is stopping' },
            cpuMs: 0,
            wallMs: 0,
          });
        if (slot.idleTimer) clearTimeout(slot.idleTimer);
        slot.idleTimer = null;
        const ended = endWorker(slot);
        if (ended) ending.push(ended);
      }
      await Promise.all(ending);
    },
  };
}

export type TransformPool = ReturnType<typeof createTransformPool>;
