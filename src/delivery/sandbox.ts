/**
 * The sandbox that runs an endpoint's transformation: the operator's
 * JavaScript, `function handler(webhook) { …; return webhook; }` over
 * `{ method, url, eventType, payload, cancel }`, in QuickJS compiled to
 * WebAssembly (quickjs-emscripten): a separate heap with no require, no
 * process, no file system, no network and no timers, unlike Node's vm,
 * which is no security boundary. Each run gets a fresh runtime with a
 * memory limit, a stack limit and a CPU deadline, and neither a clock nor
 * Math.random, so the same input always gives the same output (a retry
 * runs the same code on the same event, so a failure is final).
 *
 * This module runs only inside a transformation worker (transformWorker.ts),
 * never on the thread that claims, sends and serves pages: what QuickJS does
 * not interrupt (a backtracking regex, a garbage collection near the memory
 * limit) is ended from outside by ending the worker (transformPool.ts).
 */
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSSyncVariant,
  type QuickJSWASMModule,
} from 'quickjs-emscripten-core';
import * as releaseSyncModule from '@jitl/quickjs-wasmfile-release-sync';
import { threadCpuMs as threadCpu } from './threadCpu.js';
import {
  TRANSFORM_LIMITS,
  type SandboxJob,
  type SandboxOutcome,
  type SandboxReply,
  type TransformInput,
  type TransformResult,
} from './transformTypes.js';

/** Largest body a transformation may produce. */
const MAX_OUTPUT_BYTES = 1 << 20;
const FILE = 'transformation.js';
const WASM_PAGE = 64 << 10;

const baseVariant = ((releaseSyncModule as { default?: unknown }).default ?? releaseSyncModule) as QuickJSSyncVariant;

/**
 * The WebAssembly memory QuickJS runs in, with a maximum: Emscripten's own
 * maximum is 2 GB, and QuickJS's 16 MB limit counts only what it allocates
 * (not fragmentation), so a hostile handler grew a process by 1.4 GB. Here
 * memory that cannot grow past the maximum makes QuickJS's allocations fail
 * (out of memory, this run's failure), and it is given back to the system
 * when the worker ends (wasm memory never shrinks while it lives).
 */
export let wasmMemory: WebAssembly.Memory | null = null;
function freshVariant(): QuickJSSyncVariant {
  wasmMemory = new WebAssembly.Memory({
    initial: TRANSFORM_LIMITS.wasmInitialBytes / WASM_PAGE,
    maximum: TRANSFORM_LIMITS.wasmMaxBytes / WASM_PAGE,
  });
  return newVariant(baseVariant, { wasmMemory });
}

/**
 * The WebAssembly engine, loaded once per worker (a few ms). QuickJS can
 * abort its whole module while freeing a runtime that hostile code left
 * broken (a stack overflow; known upstream): the run says so (`broken`) and
 * the pool replaces the worker, so nothing of that module is used again.
 */
let engine: Promise<QuickJSWASMModule> | null = null;
export const loadEngine = () => (engine ??= newQuickJSWASMModuleFromVariant(freshVariant()).then(warmUp));

/**
 * One unlimited run of a trivial handler as soon as a module is loaded: V8
 * compiles WebAssembly functions on their first call, and that compilation
 * (~60 ms of wall time, ~100 ms of CPU with its helper threads) must not count
 * against the first operator's run after a start or a reload.
 */
function warmUp(module: QuickJSWASMModule): QuickJSWASMModule {
  const runtime = module.newRuntime();
  const ctx = runtime.newContext();
  try {
    const r = ctx.evalCode(
      `function handler(w) { return w; } JSON.stringify(handler(JSON.parse('{"payload":{"data":{"a":[1,"x"]}}}')))`,
      'warm-up.js',
    );
    if (r.error) r.error.dispose();
    else r.value.dispose();
  } finally {
    ctx.dispose();
    runtime.dispose();
  }
  return module;
}

/**
 * This thread's CPU time in ms: Linux's per-thread schedstat (nanoseconds).
 * Elsewhere the process's, which also counts Node's helper threads (GC,
 * WebAssembly tier-up), so it can only stop a run early, never late.
 */
function threadCpuMs(): number {
  const own = threadCpu('self');
  if (own !== null) return own;
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * An interrupt handler that stops the run after `ms` of this thread's CPU.
 * Not the wall clock (quickjs-emscripten's shouldInterruptAfterDeadline): on
 * a busy host a process waiting for a core, or for its GC threads, is not the
 * transformation's doing, and a wall-clock deadline failed trivial handlers
 * there. The run is synchronous on this thread, so the thread's CPU is the
 * run's. The CPU is read only once `ms` of wall time has passed, and then no
 * sooner than the limit could be reached, so a normal run reads it once.
 */
function afterCpu(ms: number): () => boolean {
  const cpuStart = threadCpuMs();
  let nextCheck = Date.now() + ms;
  return () => {
    const now = Date.now();
    if (now < nextCheck) return false;
    const used = threadCpuMs() - cpuStart;
    if (used >= ms) return true;
    nextCheck = now + Math.max(1, ms - used);
    return false;
  };
}

/** Neither a clock nor randomness: the same event must give the same request. */
const PRELUDE = `delete globalThis.Date; Math.random = function () { throw new Error('Math.random is not available in a transformation'); };`;

type Evaluated = { ok: true; value: string } | ({ ok: false; overCpu?: true } & Failure);

/** Why a run failed; `limit` when it was stopped at a limit (CPU, memory, stack) rather than failing by itself. */
interface Failure {
  message: string;
  limit: boolean;
}

/** Set when this worker's engine can no longer be trusted (an abort, a host-side error): the pool replaces the worker. */
let broken = false;

/**
 * Runs `source` (which ends in an expression producing a string) in a fresh,
 * limited runtime. A run stopped by the CPU limit is run once more: the
 * host's own work on this thread (a garbage collection, a WebAssembly
 * compilation) can land inside a run and push a handler of a few ms past the
 * limit, but the code is deterministic, so a real runaway is stopped again.
 */
async function evaluate(code: string, tail: string, input: string | null): Promise<Evaluated> {
  const first = await evaluateOnce(code, tail, input);
  return !first.ok && first.overCpu ? evaluateOnce(code, tail, input) : first;
}

async function evaluateOnce(code: string, tail: string, input: string | null): Promise<Evaluated> {
  const module = await loadEngine();
  const runtime = module.newRuntime();
  runtime.setMemoryLimit(TRANSFORM_LIMITS.memoryBytes);
  runtime.setMaxStackSize(TRANSFORM_LIMITS.stackBytes);
  runtime.setInterruptHandler(afterCpu(TRANSFORM_LIMITS.cpuMs));
  const ctx = runtime.newContext();
  try {
    const prelude = ctx.evalCode(PRELUDE, 'prelude.js');
    ctx.unwrapResult(prelude).dispose();
    if (input !== null) {
      const handle = ctx.newString(input);
      ctx.setProp(ctx.global, '__input', handle);
      handle.dispose();
    }
    // The operator's code first, so its line numbers are the ones in messages.
    const result = ctx.evalCode(`${code}\n;${tail}`, FILE);
    if (result.error) {
      const err = ctx.dump(result.error) as { name?: string; message?: string; stack?: string } | string;
      result.error.dispose();
      const overCpu = typeof err === 'object' && err?.name === 'InternalError' && err.message === 'interrupted';
      return { ok: false, ...describeError(err), ...(overCpu ? { overCpu: true as const } : {}) };
    }
    const value: unknown = ctx.dump(result.value);
    result.value.dispose();
    return { ok: true, value: typeof value === 'string' ? value : '' };
  } catch (err) {
    // Out of memory can surface as a host-side error; it is still this run's failure alone.
    broken = true;
    return { ok: false, ...describeError(err as { message?: string }) };
  } finally {
    try {
      ctx.dispose();
      runtime.dispose();
    } catch {
      broken = true; // this module aborted: its worker is replaced
    }
  }
}

function describeError(err: { name?: string; message?: string; stack?: string } | string | null | undefined): Failure {
  if (typeof err === 'string') return { message: err, limit: false };
  if (!err) return { message: 'the transformation failed', limit: false };
  if (err.name === 'InternalError' && err.message === 'interrupted')
    return {
      message: `the transformation ran longer than ${TRANSFORM_LIMITS.cpuMs} ms of CPU and was stopped`,
      limit: true,
    };
  if (/out of memory/i.test(err.message ?? ''))
    return {
      message: `the transformation used more than ${TRANSFORM_LIMITS.memoryBytes >> 20} MB of memory and was stopped`,
      limit: true,
    };
  if (/stack overflow/i.test(err.message ?? ''))
    return { message: 'the transformation recursed too deeply (stack overflow) and was stopped', limit: true };
  const line = new RegExp(`${FILE}:(\\d+)`).exec(err.stack ?? '')?.[1];
  return { message: `${err.name ?? 'Error'}: ${err.message ?? ''}${line ? ` (line ${line})` : ''}`, limit: false };
}

/** Null when the code compiles and defines handler; else the reason, with the line. */
async function check(code: string): Promise<string | null> {
  const r = await evaluate(code, `typeof handler === 'function' ? 'ok' : 'no handler'`, null);
  if (!r.ok) return r.message;
  return r.value === 'ok' ? null : 'the code must define function handler(webhook)';
}

/**
 * The webhook object the handler gets, as JSON, built around the body's own
 * text (parsed here, in the worker, only to check that it is JSON: a body
 * that is not reaches the handler as a string).
 */
function webhookJson(input: TransformInput): string {
  let payload = input.body;
  try {
    JSON.parse(payload);
  } catch {
    payload = JSON.stringify(input.body);
  }
  const head = JSON.stringify({ method: input.method, url: input.url, eventType: input.eventType, cancel: false });
  return `${head.slice(0, -1)},"payload":${payload}}`;
}

/** Runs the handler over one request and checks what it returned. */
async function run(code: string, input: TransformInput): Promise<TransformResult> {
  const r = await evaluate(
    code,
    `(function () { var w = JSON.parse(__input); var r = handler(w); if (r === undefined) r = w; return JSON.stringify(r === null ? null : r); })()`,
    webhookJson(input),
  );
  if (!r.ok) return { kind: 'error', message: r.message, ...(r.limit ? { limit: true as const } : {}) };
  let out: unknown;
  try {
    out = JSON.parse(r.value);
  } catch {
    return { kind: 'error', message: 'handler returned something that is not JSON' };
  }
  if (out === null || typeof out !== 'object' || Array.isArray(out))
    return {
      kind: 'error',
      message: 'handler must return the webhook object (or nothing, to keep it as it was changed)',
    };
  const w = out as { method?: unknown; url?: unknown; payload?: unknown; cancel?: unknown };
  if (w.cancel === true) return { kind: 'cancel' };
  if (w.method !== 'POST' && w.method !== 'PUT')
    return { kind: 'error', message: `webhook.method must be "POST" or "PUT", not ${JSON.stringify(w.method)}` };
  if (typeof w.url !== 'string' || !/^https?:\/\//i.test(w.url))
    return { kind: 'error', message: 'webhook.url must be an http:// or https:// URL' };
  if (w.payload === undefined) return { kind: 'error', message: 'webhook.payload is missing' };
  const body = typeof w.payload === 'string' ? w.payload : JSON.stringify(w.payload);
  if (Buffer.byteLength(body) > MAX_OUTPUT_BYTES)
    return { kind: 'error', message: 'the transformed body is larger than 1 MB' };
  return { kind: 'send', method: w.method, url: w.url, body };
}

/**
 * One job, as the worker answers it: the outcome, this thread's CPU for it,
 * and whether the worker should be replaced (its engine broke, or its
 * WebAssembly memory grew past what a normal run needs and would never
 * shrink while the worker lives).
 */
export async function runJob(job: SandboxJob): Promise<SandboxReply> {
  const cpuStart = threadCpuMs();
  const result: SandboxOutcome =
    job.op === 'check'
      ? await check(job.code).then((message) => (message === null ? { kind: 'compiled' } : { kind: 'error', message }))
      : await run(job.code, job);
  const grown = (wasmMemory?.buffer.byteLength ?? 0) > TRANSFORM_LIMITS.wasmKeepBytes;
  return { id: job.id, result, cpuMs: threadCpuMs() - cpuStart, replace: broken || grown };
}
