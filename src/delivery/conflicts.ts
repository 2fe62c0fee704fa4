/**
 * Write conflicts are normal for a queue many processes work on: InnoDB may
 * pick either of two concurrent transactions as a deadlock victim, and
 * retrying is the documented remedy.
 */
const CONFLICT_CODES = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);

export function isConflict(err: unknown): boolean {
  return CONFLICT_CODES.has((err as { code?: string } | null)?.code ?? '');
}

/** Runs fn, again after a short jittered pause when it lost a conflict, up to `tries` times. */
export async function retryConflicts<T>(fn: () => Promise<T>, tries = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= tries || !isConflict(err)) throw err;
      await new Promise((r) => setTimeout(r, 5 * i + Math.random() * 20));
    }
  }
}
