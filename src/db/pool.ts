/**
 * The connection pool, built from validated config. Sessions run in UTC so
 * DATETIME(3) columns written with NOW(3) and read as Date agree.
 */
import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, PoolOptions } from 'mysql2/promise';
import { ConfigError } from '../errors.js';

export type Queryable = Pool | PoolConnection;

export interface DbTarget {
  options: PoolOptions;
  database: string;
}

export function parseDatabaseUrl(url: string, socketPath?: string): DbTarget {
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!database) throw new ConfigError('DATABASE_URL', 'DATABASE_URL must name a database, e.g. mysql://root@127.0.0.1:3306/lms');
  const charset = u.searchParams.get('charset');
  return {
    database,
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
  const conn = await mysql.createConnection({ ...target.options, database: undefined });
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS ${mysql.escapeId(target.database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
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

export function createPool(target: DbTarget, connectionLimit: number): Pool {
  const pool = mysql.createPool({
    ...target.options,
    database: target.database,
    connectionLimit,
    maxIdle: Math.min(connectionLimit, 4),
    idleTimeout: 60_000,
    queueLimit: 0,
  });
  // The 'connection' event hands over the callback-style connection.
  // READ COMMITTED: a queue wants no gap locks between claimers (SKIP LOCKED
  // works either way); it needs binlog_format=ROW or MIXED, the default.
  const counter = { n: 0 };
  issued.set(pool, counter);
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
