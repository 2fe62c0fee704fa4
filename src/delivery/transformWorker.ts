/**
 * A transformation worker: a thread of its own with its own QuickJS module,
 * taking one job at a time from the pool (transformPool.ts) over its message
 * port. Anything a job does — loop, allocate, backtrack — holds this thread
 * only; the pool ends it from outside when a job passes its wall-clock limit.
 */
import { parentPort } from 'node:worker_threads';
import { readlinkSync } from 'node:fs';
import { constants, setPriority } from 'node:os';
import { loadEngine, runJob } from './sandbox.js';
import type { SandboxJob } from './transformTypes.js';

const port = parentPort!;
/**
 * This thread runs below the delivery loop's priority (nice 10, Linux's
 * setpriority on the thread's own id): operators' code gets the CPU the
 * loop, the database and the receivers leave, so code that burns its
 * limits costs the others little. The CPU limit counts this thread's own
 * CPU, so a run is never failed for waiting; the wall-clock limit (1 s) is
 * the one a starved run could meet. Elsewhere (no /proc) it stays as it is.
 */
let tid: number | null = null;
try {
  tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid)) setPriority(tid, constants.priority.PRIORITY_BELOW_NORMAL);
  else tid = null;
} catch {
  // not Linux, or not allowed: same priority as the loop, and the pool watches the wall clock alone
}
// An aborting QuickJS module prints `Aborted(…)` through the console: the job's failure says what happened.
for (const name of ['log', 'warn', 'error'] as const) console[name] = () => {};
// Loaded (and warmed up) before the first job, so no run pays for it.
await loadEngine();
port.on('message', (job: SandboxJob) => {
  void runJob(job).then((reply) => port.postMessage(reply));
});
// The thread's id: the pool reads this thread's CPU from outside while a job runs.
port.postMessage({ ready: true, tid });
