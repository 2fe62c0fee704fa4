/**
 * A thread's CPU time in ms, from Linux's per-thread schedstat (nanoseconds
 * on the CPU): `thread-self` for the calling thread, `self/task/<tid>` for
 * another thread of this process. Null where it cannot be read (not Linux,
 * or the thread has ended).
 */
import { readFileSync } from 'node:fs';

export function threadCpuMs(tid: number | 'self'): number | null {
  const path = tid === 'self' ? '/proc/thread-self/schedstat' : `/proc/self/task/${tid}/schedstat`;
  try {
    return Number(readFileSync(path, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return null;
  }
}
