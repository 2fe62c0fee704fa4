/**
 * Named locks every database node sees: a lease row in {prefix}webhook_locks.
 * GET_LOCK is per server, so on a Galera cluster two nodes would both grant
 * it (two replicas migrating at once, all of them pruning). A row is
 * replicated like any write: two nodes taking it at once conflict, and
 * Galera lets one commit. The holder renews the lease while it works; a
 * holder that dies leaves a lease that runs out, so the lock is never stuck.
 */
import type { Pool } from 'mysql2/promise';
import type { Tables } from './tables.js';
import { exec, rows } from './sql.js';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { isConflict } from './conflicts.js';

const PROCESS = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
let taken = 0;
/** A holder name for one taking of a lock: host, pid, a random part (pids repeat across containers) and a count. */
export function newHolder(): string {
  return `${PROCESS.slice(0, 80)}:${++taken}`;
}

export async function ensureLockTable(pool: Pool, t: Tables): Promise<void> {
  await exec(
    pool,
    `CREATE TABLE IF NOT EXISTS ${t.locks} (
       name VARCHAR(64) NOT NULL PRIMARY KEY,
       holder VARCHAR(100) NOT NULL,
       expires_at DATETIME(3) NOT NULL
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  );
}

/** Takes the lock if it is free, expired, or already ours; true when held. One statement, then a read. */
export async function tryLock(pool: Pool, t: Tables, name: string, holder: string, leaseMs: number): Promise<boolean> {
  const lease = leaseMs * 1000;
  try {
    // Assignments run left to right: holder is decided on the old row, then expires_at follows it.
    await exec(
      pool,
      `INSERT INTO ${t.locks} (name, holder, expires_at) VALUES (?, ?, DATE_ADD(NOW(3), INTERVAL ? MICROSECOND))
         ON DUPLICATE KEY UPDATE
           holder = IF(expires_at < NOW(3) OR holder = ?, ?, holder),
           expires_at = IF(holder = ?, DATE_ADD(NOW(3), INTERVAL ? MICROSECOND), expires_at)`,
      [name, holder, lease, holder, holder, holder, lease],
    );
  } catch (err) {
    // Another node took it in the same instant: not ours this time.
    if (isConflict(err)) return false;
    throw err;
  }
  const [r] = await rows(pool, `SELECT holder FROM ${t.locks} WHERE name = ?`, [name]);
  return r !== undefined && String(r.holder) === holder;
}

export async function unlock(pool: Pool, t: Tables, name: string, holder: string): Promise<void> {
  await exec(pool, `DELETE FROM ${t.locks} WHERE name = ? AND holder = ?`, [name, holder]);
}

export interface HeldLock {
  release(): Promise<void>;
}

/**
 * Runs fn holding the lock, renewing it every leaseMs / 3. Waits up to
 * waitMs for it (null: do not wait, return null when it is held elsewhere).
 */
export async function withLock<T>(
  pool: Pool,
  t: Tables,
  name: string,
  holder: string,
  opts: { leaseMs: number; waitMs: number | null },
  fn: () => Promise<T>,
): Promise<{ ran: true; value: T } | { ran: false }> {
  const deadline = Date.now() + (opts.waitMs ?? 0);
  while (!(await tryLock(pool, t, name, holder, opts.leaseMs))) {
    if (opts.waitMs === null) return { ran: false };
    if (Date.now() > deadline)
      throw new Error(
        `could not take the ${name} lock within ${Math.round(opts.waitMs / 1000)} s; another sidecar holds it (see ${t.locks})`,
      );
    await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
  }
  const renew = setInterval(() => {
    tryLock(pool, t, name, holder, opts.leaseMs).catch(() => undefined);
  }, opts.leaseMs / 3);
  renew.unref();
  try {
    return { ran: true, value: await fn() };
  } finally {
    clearInterval(renew);
    await unlock(pool, t, name, holder).catch(() => undefined);
  }
}
