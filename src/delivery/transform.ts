/**
 * Per-endpoint transformations, as the rest of the sidecar sees them: check
 * an endpoint's code, run it over one request. Every run happens in the
 * transformation pool (transformPool.ts), off the thread that delivers and
 * serves pages; the sandbox itself is sandbox.ts.
 */
import { ADMIN_LANE, createTransformPool, type PoolStats } from './transformPool.js';
import { MAX_TRANSFORMATION_CHARS, type TransformInput, type TransformResult } from './transformTypes.js';

export { MAX_TRANSFORMATION_CHARS, TRANSFORM_LIMITS } from './transformTypes.js';
export type { TransformInput, TransformResult } from './transformTypes.js';

const pool = createTransformPool();

/** Null when the code compiles and defines handler; else the reason, with the line. */
export async function checkTransformation(code: string): Promise<string | null> {
  if (code.length > MAX_TRANSFORMATION_CHARS) return `the code is longer than ${MAX_TRANSFORMATION_CHARS} characters`;
  const { result } = await pool.run(ADMIN_LANE, { op: 'check', code });
  return result.kind === 'error' ? result.message : null;
}

/**
 * Runs an endpoint's transformation over one request. `lane` names whose
 * code it is (the endpoint, with its site on a network): lanes take turns
 * in the pool, one worker each at most.
 */
export async function runTransformation(
  code: string,
  input: TransformInput,
  lane = ADMIN_LANE,
): Promise<TransformResult> {
  const { result } = await pool.run(lane, { op: 'run', code, ...input });
  return result.kind === 'compiled' ? { kind: 'error', message: 'the transformation did not run' } : result;
}

/** The pool's workers and what they did, for metrics and the bench. */
export function transformPoolStats(): PoolStats {
  return pool.stats();
}

/** Ends the pool's workers (they start again when next needed): for a process that is ending. */
export function closeTransformPool(): Promise<void> {
  return pool.close();
}
