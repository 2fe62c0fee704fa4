/**
 * DATABASE_URL read into what the pool needs: connection options, the
 * database name, and every host of a cluster (mysql://u:p@db1,db2,db3/lms).
 */
import type { PoolOptions } from 'mysql2/promise';
import { ConfigError } from '../errors.js';

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
