/**
 * The connection pool, built from validated config. Sessions run in UTC so
 * DATETIME(3) columns written with NOW(3) and read as Date agree.
 */
import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, PoolOptions, RowDataPacket } from 'mysql2/promise';
import { ConfigError, isConnectionError } from '../errors.js';
import { rows } from './sql.js';

export type Queryable = Pool | PoolConnection;

export interface DbHost {
  host: string;
  port: number;
}

export interface DbTarget {
  options: PoolOptions;
  database: string;
  /** Every host of DATABASE_URL, in order; the first is in `options`. */
  hosts: DbHost[];
}

/**
 * DATABASE_URL may name several hosts for a cluster (mysql://u:p@db1:3306,db2:3306/lms).
 * URL parsers take one host, so the list is cut out here: `url` is the same
 * URL with the first host only, `hosts` the list.
 */
export function splitHosts(url: string): { url: string; hosts: DbHost[] } {
  const m = /^([a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?)([^/?#]*)(.*)$/i.exec(url);
  if (!m || !m[2]!.includes(',')) {
    try {
      const u = new URL(url);
      return {
        url,
        hosts: [{ host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1', port: u.port ? Number(u.port) : 3306 }],
      };
    } catch {
      return { url, hosts: [] };
    }
  }
  const hosts = m[2]!.split(',').map((h) => {
    const hm = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(h.trim());
    if (!hm)
      throw new ConfigError(
        'DATABASE_URL',
        `DATABASE_URL: "${h}" is not a host or host:port (several hosts are separated by commas: db1:3306,db2:3306)`,
      );
    return { host: hm[1]!.replace(/^\[|\]$/g, ''), port: hm[2] ? Number(hm[2]) : 3306 };
  });
  return { url: `${m[1]}${m[2]!.split(',')[0]}${m[3]}`, hosts };
}

export function parseDatabaseUrl(rawUrl: string, socketPath?: string): DbTarget {
  const { url, hosts } = splitHosts(rawUrl);
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!database)
    throw new ConfigError('DATABASE_URL', 'DATABASE_URL must name a database, e.g. mysql://root@127.0.0.1:3306/lms');
  const charset = u.searchParams.get('charset');
  return {
    database,
    hosts,
    options: {
      host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
      port: u.port ? Number(u.port) : 3306,
      user: decodeURIComponent(u.username || 'root'),
      password: decodeURIComponent(u.password),
      ...(socketPath ? { socketPath } : {}),
      // utf8mb4 whatever DB_CHARSET says: 'utf8' (3-byte) would mangle emoji in payloads.
      charset: charset && /^utf8mb4/i.test(charset) ? charset.toUpperCase() + '_UNICODE_CI' : 'UTF8MB4_UNICODE_CI',
      timezone: 'Z',
      supportBigNumbers: true,
      decimalNumbers: true,
      // An LMS outbox may use a JSON column; we want its text, not an object, to validate and splice.
      jsonStrings: true,
      enableKeepAlive: true,
      // No stack capture per query (an Error per call): our errors carry their own context.
      trace: false,
      connectTimeout: 5000,
    },
  };
}

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

const budgets = new WeakMap<Queryable, number>();

/**
 * Bytes of values one statement may carry on this server: half its
 * max_allowed_packet (escaping can double text), less 64 KB for the rest of
 * the statement. Batches are cut to it, so a host still at MySQL 5.7's 4 MB
 * default never gets a statement it refuses, which would be refused again
 * on every retry. Read once per pool; a failed read is tried again next time.
 */
export async function statementBudget(pool: Queryable): Promise<number> {
  let b = budgets.get(pool);
  if (b === undefined) {
    const [r] = await rows(pool, 'SELECT @@max_allowed_packet AS p');
    b = Math.max(64 * 1024, Math.floor(Number(r!.p) / 2) - 64 * 1024);
    budgets.set(pool, b);
  }
  return b;
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

/** Runs fn in a transaction on one connection; rolls back on any error. */
export async function withTransaction<T>(pool: Pool, fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
  const conn = await pool.getConnection();
  try {
    await conn.beginTransaction();
    const result = await fn(conn);
    await conn.commit();
    return result;
  } catch (err) {
    try {
      await conn.rollback();
    } catch {
      // The connection is broken; destroy below rather than reuse it.
      conn.destroy();
      throw err;
    }
    throw err;
  } finally {
    conn.release();
  }
}
