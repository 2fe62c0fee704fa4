/**
 * The connection pool, built from validated config. Sessions run in UTC so
 * DATETIME(3) columns written with NOW(3) and read as Date agree.
 */
import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, PoolOptions, RowDataPacket } from 'mysql2/promise';
import { isConnectionError } from '../errors.js';
import type { DbTarget } from './databaseUrl.js';

/** Creates the database when it is missing and the user may; otherwise leaves it to the pool to complain. */
export async function ensureDatabase(target: DbTarget): Promise<void> {
  // On a cluster, the first host that answers.
  let conn: mysql.Connection | undefined;
  let lastErr: unknown;
  for (const h of target.hosts.length > 1
    ? target.hosts
    : [{ host: target.options.host!, port: target.options.port! }]) {
    try {
      conn = await mysql.createConnection({ ...target.options, host: h.host, port: h.port, database: undefined });
      break;
    } catch (err) {
      lastErr = err;
    }
  }
  if (!conn) throw lastErr;
  try {
    await conn.query(
      `CREATE DATABASE IF NOT EXISTS ${mysql.escapeId(target.database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
  } catch (err) {
    const code = (err as { code?: string }).code;
    // No CREATE privilege: fine when the database already exists, which the pool will tell us.
    if (code !== 'ER_DBACCESS_DENIED_ERROR' && code !== 'ER_ACCESS_DENIED_ERROR') throw err;
  } finally {
    await conn.end();
  }
}

const issued = new WeakMap<Pool, { n: number }>();

/** Statements this pool has sent to the server (the bench's queries per delivery, /metrics). */
export function queriesIssued(pool: Pool): number {
  return issued.get(pool)?.n ?? 0;
}

function createHostPool(options: PoolOptions, connectionLimit: number, counter: { n: number }): Pool {
  const pool = mysql.createPool({
    ...options,
    connectionLimit,
    maxIdle: Math.min(connectionLimit, 4),
    idleTimeout: 60_000,
    queueLimit: 0,
  });
  // The 'connection' event hands over the callback-style connection.
  // READ COMMITTED: a queue wants no gap locks between claimers (SKIP LOCKED
  // works either way); it needs binlog_format=ROW or MIXED, the default.
  pool.pool.on('connection', (conn) => {
    // Commands queue in order on a connection, so these run before any caller's query.
    conn.query("SET time_zone = '+00:00'");
    conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
    // Count every statement this connection sends (mysql2 has no per-query event).
    const query = conn.query.bind(conn) as (...args: unknown[]) => unknown;
    (conn as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      counter.n++;
      return query(...args);
    };
  });
  return pool;
}

const hostOf = new WeakMap<Pool, () => string>();

/** The database host this pool talks to now (host:port), for /healthz. */
export function currentHost(pool: Pool): string | null {
  return hostOf.get(pool)?.() ?? null;
}

export interface PoolEvents {
  /** The pool moved to another host of the cluster (`reason`: why it left the previous one). */
  onSwitch?: (from: string, to: string, reason: string) => void;
}

/** How often a pool that left its first host checks whether it is back. */
const RETURN_PROBE_MS = 5000;

export function createPool(target: DbTarget, connectionLimit: number, events: PoolEvents = {}): Pool {
  const counter = { n: 0 };
  if (target.hosts.length <= 1) {
    const pool = createHostPool({ ...target.options, database: target.database }, connectionLimit, counter);
    issued.set(pool, counter);
    hostOf.set(pool, () =>
      target.options.socketPath
        ? `socket ${target.options.socketPath}`
        : `${target.options.host}:${target.options.port}`,
    );
    return pool;
  }
  return createFailoverPool(target, connectionLimit, counter, events);
}

/**
 * Several hosts (a Galera cluster, say): one pool per host, used one at a
 * time, in the order given. A connection-level error (refused, lost, a node
 * that is not Synced) moves this process to the next host at once; the
 * failed call still fails, and its caller's retry lands on the new host.
 * Every RETURN_PROBE_MS a process away from its first host tries it, and
 * goes back when it answers (and, on Galera, is ready). One writer per
 * process: replicas that share a host order share its row locks.
 */
function createFailoverPool(
  target: DbTarget,
  connectionLimit: number,
  counter: { n: number },
  events: PoolEvents,
): Pool {
  const name = (i: number) => `${target.hosts[i]!.host}:${target.hosts[i]!.port}`;
  const pools = target.hosts.map((h) =>
    createHostPool(
      { ...target.options, host: h.host, port: h.port, database: target.database },
      connectionLimit,
      counter,
    ),
  );
  let current = 0;

  function moveOn(from: number, err: unknown) {
    if (from !== current || !isConnectionError(err)) return;
    current = (current + 1) % pools.length;
    events.onSwitch?.(name(from), name(current), (err as Error).message);
  }

  async function firstIsBack(): Promise<boolean> {
    const h = target.hosts[0]!;
    const c = await mysql.createConnection({
      ...target.options,
      host: h.host,
      port: h.port,
      database: target.database,
      connectTimeout: 2000,
    });
    try {
      const [r] = await c.query<RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'wsrep_ready'");
      return r.length === 0 || String(r[0]!.Value).toUpperCase() === 'ON';
    } finally {
      await c.end().catch(() => undefined);
    }
  }
  const probe = setInterval(() => {
    if (current === 0) return;
    firstIsBack()
      .then((back) => {
        if (!back || current === 0) return;
        const from = current;
        current = 0;
        events.onSwitch?.(name(from), name(0), 'the first host answers again');
      })
      .catch(() => undefined);
  }, RETURN_PROBE_MS);
  probe.unref();

  const watchConnection = (conn: PoolConnection, at: number): PoolConnection => {
    const query = conn.query.bind(conn) as (...args: unknown[]) => Promise<unknown>;
    (conn as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = (...args: unknown[]) =>
      query(...args).catch((err: unknown) => {
        moveOn(at, err);
        throw err;
      });
    return conn;
  };

  const facade = {
    query: (...args: unknown[]) => {
      const at = current;
      return (pools[at]!.query as (...a: unknown[]) => Promise<unknown>)(...args).catch((err: unknown) => {
        moveOn(at, err);
        throw err;
      });
    },
    getConnection: async () => {
      const at = current;
      try {
        return watchConnection(await pools[at]!.getConnection(), at);
      } catch (err) {
        moveOn(at, err);
        throw err;
      }
    },
    end: async () => {
      clearInterval(probe);
      await Promise.all(pools.map((p) => p.end()));
    },
  };
  // Anything else our code might touch goes to the current host's pool.
  const pool = new Proxy(facade, {
    get(t, prop, receiver) {
      if (prop in t) return Reflect.get(t, prop, receiver) as unknown;
      const v = (pools[current] as unknown as Record<string | symbol, unknown>)[prop];
      return typeof v === 'function' ? ((v as (...args: unknown[]) => unknown).bind(pools[current]) as unknown) : v;
    },
  }) as unknown as Pool;
  issued.set(pool, counter);
  hostOf.set(pool, () => name(current));
  return pool;
}
