/**
 * A 3-node MariaDB Galera cluster on loopback for the cluster tests: one
 * mariadbd per node with its own data directory, socket and ports, rsync
 * state transfer, run as the mysql user (the rsync SST script writes the
 * joiner's files as that user). Node 1 bootstraps (--wsrep-new-cluster),
 * the others join; ready when every node reports Synced. Stopped by PID.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { freePort } from './net.js';

export const GALERA_PROVIDER = '/usr/lib/galera/libgalera_smm.so';

export interface GaleraNode {
  index: number;
  port: number;
  url(db: string): string;
  /** Starts it again after a kill: it rejoins the cluster (state transfer) and waits until Synced. */
  start(): Promise<void>;
  /** SIGKILL: the node dies as a crashed server does. */
  kill(): Promise<void>;
  running(): boolean;
  errorLog(): string;
}

export interface GaleraCluster {
  nodes: GaleraNode[];
  /** DATABASE_URL naming all nodes, `first` first. */
  url(db: string, first?: number): string;
  destroy(): Promise<void>;
}

async function status(port: number, name: string): Promise<string | null> {
  const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', connectTimeout: 1000 });
  try {
    const [r] = await c.query<mysql.RowDataPacket[]>('SHOW GLOBAL STATUS LIKE ?', [name]);
    return r[0] ? String(r[0].Value) : null;
  } finally {
    await c.end();
  }
}

interface NodePorts {
  sql: number;
  gcomm: number;
  ist: number;
  sst: number;
}

/** One node's mariadbd command line: own datadir, socket and ports on loopback, rsync state transfer. */
function nodeArgs(o: {
  dir: string;
  ports: NodePorts;
  name: string;
  clusterAddress: string;
  bootstrap: boolean;
}): string[] {
  const { dir: d, ports: p, clusterAddress, bootstrap } = o;
  return [
    '--no-defaults',
    `--datadir=${path.join(d, 'data')}`,
    `--port=${p.sql}`,
    '--bind-address=127.0.0.1',
    `--socket=${path.join(d, 'sock')}`,
    `--pid-file=${path.join(d, 'pid')}`,
    `--log-error=${path.join(d, 'err.log')}`,
    '--user=mysql',
    '--innodb-buffer-pool-size=32M',
    '--binlog-format=ROW',
    '--innodb-autoinc-lock-mode=2',
    '--default-storage-engine=InnoDB',
    '--wsrep-on=ON',
    `--wsrep-provider=${GALERA_PROVIDER}`,
    '--wsrep-cluster-name=whtest',
    `--wsrep-cluster-address=${clusterAddress}`,
    `--wsrep-node-name=${o.name}`,
    `--wsrep-node-address=127.0.0.1:${p.gcomm}`,
    `--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:${p.gcomm};ist.recv_addr=127.0.0.1:${p.ist};evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S`,
    '--wsrep-sst-method=rsync',
    `--wsrep-sst-receive-address=127.0.0.1:${p.sst}`,
    ...(bootstrap ? ['--wsrep-new-cluster'] : []),
  ];
}

export async function startGalera(size = 3): Promise<GaleraCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'whtest-galera-'));
  chmodSync(dir, 0o755); // the mysql user must reach its data directories
  const ports = await Promise.all(
    Array.from({ length: size }, async () => ({
      sql: await freePort(),
      gcomm: await freePort(),
      ist: await freePort(),
      sst: await freePort(),
    })),
  );
  const clusterAddress = `gcomm://${ports.map((p) => `127.0.0.1:${p.gcomm}`).join(',')}`;
  const procs: (ChildProcess | null)[] = ports.map(() => null);

  const nodeDir = (i: number) => path.join(dir, `node${i + 1}`);
  for (let i = 0; i < size; i++) {
    mkdirSync(nodeDir(i));
    execFileSync(
      'mariadb-install-db',
      [
        '--no-defaults',
        `--datadir=${path.join(nodeDir(i), 'data')}`,
        '--user=mysql',
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
      ],
      {
        stdio: 'ignore',
      },
    );
    execFileSync('chown', ['-R', 'mysql:mysql', nodeDir(i)]);
  }

  async function waitSynced(i: number, ms: number) {
    const deadline = Date.now() + ms;
    let last: string;
    for (;;) {
      if (procs[i]?.exitCode !== null && procs[i]?.exitCode !== undefined) {
        throw new Error(`galera node ${i + 1} exited (${procs[i]?.exitCode}): ${tail(i)}`);
      }
      try {
        last = (await status(ports[i]!.sql, 'wsrep_local_state_comment')) ?? '';
        if (last === 'Synced') return;
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() > deadline)
        throw new Error(`galera node ${i + 1} not Synced after ${ms} ms (${last}): ${tail(i)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  const tail = (i: number) => {
    const f = path.join(nodeDir(i), 'err.log');
    return existsSync(f)
      ? readFileSync(f, 'utf8')
          .split('\n')
          .filter((l) => /ERROR|Warning|rror/.test(l))
          .slice(-25)
          .join('\n')
      : '(no log)';
  };

  function spawnNode(i: number, bootstrap: boolean) {
    procs[i] = spawn(
      '/usr/sbin/mariadbd',
      nodeArgs({ dir: nodeDir(i), ports: ports[i]!, name: `node${i + 1}`, clusterAddress, bootstrap }),
      { stdio: 'ignore' },
    );
  }

  const nodes: GaleraNode[] = ports.map((p, i) => ({
    index: i,
    port: p.sql,
    url: (db) => `mysql://root@127.0.0.1:${p.sql}/${db}`,
    async start() {
      spawnNode(i, false);
      await waitSynced(i, 60_000);
    },
    async kill() {
      const proc = procs[i];
      if (!proc || proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    },
    running: () => procs[i] !== null && procs[i]!.exitCode === null && procs[i]!.signalCode === null,
    errorLog: () => tail(i),
  }));

  const cluster: GaleraCluster = {
    nodes,
    url: (db, first = 0) => {
      const order = [...ports.keys()].sort((a, b) => (a === first ? -1 : b === first ? 1 : a - b));
      return `mysql://root@${order.map((i) => `127.0.0.1:${ports[i]!.sql}`).join(',')}/${db}`;
    },
    async destroy() {
      await Promise.all(
        procs.map(async (proc) => {
          if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
          const exited = new Promise((r) => proc.once('exit', r));
          proc.kill('SIGKILL'); // nothing here is kept: no need for a clean shutdown
          await exited;
        }),
      );
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    spawnNode(0, true);
    await waitSynced(0, 60_000);
    // Joiners one at a time: two state transfers from one donor at once are slower than in turn.
    for (let i = 1; i < size; i++) {
      spawnNode(i, false);
      await waitSynced(i, 60_000);
    }
  } catch (err) {
    await cluster.destroy();
    throw err;
  }
  return cluster;
}
