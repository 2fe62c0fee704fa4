/**
 * What the delivery loop and a transformation worker say to each other, and
 * the limits of a run. Kept apart from the sandbox so the main thread never
 * loads QuickJS.
 */

export const TRANSFORM_LIMITS = Object.freeze({
  /** CPU of the worker's thread for one run, checked by QuickJS's interrupt handler. */
  cpuMs: 50,
  /** What QuickJS may allocate for one run. */
  memoryBytes: 16 << 20,
  stackBytes: 512 << 10,
  /**
   * CPU of the worker's thread for one job, read from outside (Linux's
   * per-thread schedstat) while it runs: what QuickJS's interrupt handler
   * is not asked during (a regular expression backtracking, a collection
   * near the memory limit) is ended here by ending the worker. The job's
   * two tries at cpuMs, and 50 ms more for the engine's own work.
   */
  outsideCpuMs: 150,
  /**
   * Wall time of one run, measured from outside: what QuickJS does not
   * interrupt (a regex backtracking, a collection near the memory limit) is
   * ended here by ending the worker. Far above the CPU limit, so a busy host
   * does not stop a normal run: the run's two tries at 50 ms of CPU each
   * finish in it with the worker given a fifth of a core.
   */
  wallMs: 1000,
  /** The worker's WebAssembly memory: where it starts, the most it may grow to, and past what the worker is replaced. */
  wasmInitialBytes: 16 << 20,
  wasmMaxBytes: 64 << 20,
  wasmKeepBytes: 32 << 20,
  /** V8's own heap in a worker (resourceLimits): the glue and the strings passed, never the handler's data. */
  workerHeapMb: 24,
});

/** Longest code an endpoint may keep. */
export const MAX_TRANSFORMATION_CHARS = 64 * 1024;

export interface TransformInput {
  method: 'POST';
  url: string;
  eventType: string;
  /** The body as built (the envelope, or a chat message): the handler gets it parsed as `payload`. */
  body: string;
}

export type TransformResult =
  | { kind: 'send'; method: 'POST' | 'PUT'; url: string; body: string }
  | { kind: 'cancel' }
  /** limit: stopped at a limit (CPU, wall time, memory, stack), which counts as TRANSFORMATION_BACKOFF_AFTER failures. */
  | { kind: 'error'; message: string; limit?: true }
  /** Not run: this code failed TRANSFORMATION_BACKOFF_AFTER runs in a row in this process and waits this long. */
  | { kind: 'waiting'; waitMs: number; failures: number };

/** A job for a worker: compile and check the code, or run it over one request. */
export type SandboxJob =
  { id: number; op: 'check'; code: string } | ({ id: number; op: 'run'; code: string } & TransformInput);

export type SandboxOutcome = TransformResult | { kind: 'compiled' };

export interface SandboxReply {
  id: number;
  result: SandboxOutcome;
  /** The worker thread's CPU for the job, ms. */
  cpuMs: number;
  /** The worker asks to be replaced: its engine broke, or its memory grew and would never shrink. */
  replace: boolean;
}
