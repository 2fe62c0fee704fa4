/**
 * A database server of the test's own: its own data directory and port, so a
 * test can stop and start it without touching the shared server. MariaDB by
 * default; the mysqld that TEST_MYSQLD names (set by `npm run test:mysql`)
 * when the suite runs against MySQL, so the outage is a MySQL outage there.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { freePort } from './net.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';

export interface PrivateMariaDb {
  port: number;
  url(db: string): string;
  start(): Promise<void>;
  stop(): Promise<void>;
  destroy(): Promise<void>;
}

/** `serverArgs` are added to the server's command line (e.g. `--max-allowed-packet=1M`). */
export async function createPrivateMariaDb(serverArgs: string[] = []): Promise<PrivateMariaDb> {
  const dir = mkdtempSync(path.join(tmpdir(), 'whtest-mariadb-'));
  const data = path.join(dir, 'data');
  const mysqld = process.env.TEST_MYSQLD;
  if (mysqld) {
    // The wrapper passes --no-defaults and the base directory itself.
    execFileSync(
      mysqld,
      ['--initialize-insecure', `--datadir=${data}`, '--user=root', `--log-error=${path.join(dir, 'init.log')}`],
      { stdio: 'ignore' },
    );
    mkdirSync(path.join(dir, 'files'));
  } else {
    execFileSync(
      'mariadb-install-db',
      [
        '--no-defaults',
        `--datadir=${data}`,
        '--user=root',
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
      ],
      {
        stdio: 'ignore',
      },
    );
  }
  const port = await freePort();
  let proc: ChildProcess | null = null;

  const ping = async () => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', connectTimeout: 1000 });
    await c.end();
  };

  const self: PrivateMariaDb = {
    port,
    url: (db) => `mysql://root@127.0.0.1:${port}/${db}`,
    async start() {
      const common = [
        `--datadir=${data}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--socket=${path.join(dir, 'sock')}`,
        '--user=root',
        '--innodb-buffer-pool-size=32M',
        `--log-error=${path.join(dir, 'err.log')}`,
        `--pid-file=${path.join(dir, 'pid')}`,
      ];
      proc = mysqld
        ? spawn(
            mysqld,
            [
              ...common,
              '--mysqlx=OFF',
              '--disable-log-bin',
              `--secure-file-priv=${path.join(dir, 'files')}`,
              ...serverArgs,
            ],
            { stdio: 'ignore' },
          )
        : spawn('/usr/sbin/mariadbd', ['--no-defaults', ...common, ...serverArgs], { stdio: 'ignore' });
      const deadline = Date.now() + 30_000;
      for (;;) {
        try {
          await ping();
          return;
        } catch (err) {
          if (Date.now() > deadline)
            throw new Error(`private MariaDB on ${port} did not start: ${(err as Error).message}`, { cause: err });
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
    async stop() {
      const p = proc;
      if (!p || p.exitCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
      proc = null;
    },
    async destroy() {
      await self.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return self;
}
