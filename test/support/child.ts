/**
 * Another program run from a test without holding this process: the mocha
 * process also serves the in-process sidecar, and seconds of a synchronous
 * child (a compiler, PHP loading WordPress, mysqldump) stall its event
 * loop: cron ticks are missed and a keep-alive socket the server closed
 * meanwhile is reused by the next request (ECONNRESET). Always async.
 */
import { execFile } from 'node:child_process';

export interface ChildResult {
  stdout: string;
  stderr: string;
}

/** Runs `cmd`; rejects with the child's output on a non-zero exit (err.stdout / err.stderr). */
export function runChild(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20, env: opts.env }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(new Error(err.message, { cause: err }), { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
  });
}
