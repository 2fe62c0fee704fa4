/**
 * Write conflicts are normal for a queue many processes work on: InnoDB may
 * pick either of two concurrent transactions as a deadlock victim, and
 * retrying is the documented remedy.
 */
import { isConnectionError } from '../errors.js';

const CONFLICT_CODES = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);

export function isConflict(err: unknown): boolean {
  return CONFLICT_CODES.has((err as { code?: string } | null)?.code ?? '');
}

let retried = 0;
/** Conflicts lost and retried by this process (webhooks_db_conflicts_retried_total). */
export const conflictsRetried = () => retried;

/**
 * Runs fn, again after a short jittered pause when it lost a conflict, up to
 * `tries` times. On a Galera cluster every node's row locks are its own and
 * the loser of two conflicting commits is aborted with ER_LOCK_DEADLOCK at
 * certification: normal there, so counted, not logged.
 */
export async function retryConflicts<T>(fn: () => Promise<T>, tries = 8): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= tries || !isConflict(err)) throw err;
      retried++;
      await new Promise((r) => setTimeout(r, 5 * i + Math.random() * 20 * i));
    }
  }
}

/**
 * Errors that pass by themselves: the database away (connection) or write
 * conflicts that outlasted the retries (a Galera view change aborts every
 * transaction for a few seconds). Callers back off and try again; they warn,
 * never log an error, and keep what they hold.
 */
export function isTransient(err: unknown): boolean {
  return isConnectionError(err) || isConflict(err);
}
