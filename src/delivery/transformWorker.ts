/**
 * A transformation worker: a thread of its own with its own QuickJS module,
 * taking one job at a time from the pool (transformPool.ts) over its message
 * port. Anything a job does — loop, allocate, backtrack — holds this thread
 * only; the pool ends it from outside when a job passes its wall-clock limit.
 */
import { parentPort } from 'node:worker_threads';
import { loadEngine, runJob } from './sandbox.js';
import type { SandboxJob } from './transformTypes.js';

const port = parentPort!;
// An aborting QuickJS module prints `Aborted(…)` through the console: the job's failure says what happened.
for (const name of ['log', 'warn', 'error'] as const) console[name] = () => {};
// Loaded (and warmed up) before the first job, so no run pays for it.
await loadEngine();
port.on('message', (job: SandboxJob) => {
  void runJob(job).then((reply) => port.postMessage(reply));
});
port.postMessage({ ready: true });
