/**
 * Where the local MySQL/MariaDB socket is, found as PHP's mysqli finds it:
 * DB_HOST 'localhost' (or empty) means the Unix socket, never TCP, so an
 * account that exists only as 'user'@'localhost' works for WordPress; it
 * must work for us too.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** php.ini files of Debian/Ubuntu (per SAPI), RHEL and the official Docker images. */
export function phpIniFiles(root = '/etc/php'): string[] {
  const out: string[] = [];
  try {
    for (const version of readdirSync(root)) {
      for (const sapi of ['fpm', 'apache2', 'cli', 'cgi']) out.push(path.join(root, version, sapi, 'php.ini'));
    }
  } catch {
    // no /etc/php: not a Debian-style PHP
  }
  out.push('/etc/php.ini', '/usr/local/etc/php/php.ini');
  return out;
}

/** The sockets mysqlnd and the distributions' servers use, most common first. */
export const USUAL_SOCKETS = [
  '/run/mysqld/mysqld.sock',
  '/var/run/mysqld/mysqld.sock',
  '/var/lib/mysql/mysql.sock',
  '/tmp/mysql.sock',
  '/var/mysql/mysql.sock',
  '/opt/homebrew/var/mysql/mysql.sock',
];

/** mysqli.default_socket (or pdo_mysql's) from one php.ini, when set. */
export function socketFromPhpIni(text: string): string | undefined {
  for (const key of ['mysqli.default_socket', 'pdo_mysql.default_socket']) {
    const m = new RegExp(
      String.raw`^[ \t]*${key.replace('.', '\\.')}[ \t]*=[ \t]*"?([^";\r\n]*?)"?[ \t]*(?:;.*)?$`,
      'm',
    ).exec(text);
    if (m?.[1]) return m[1];
  }
  return undefined;
}

const isSocket = (p: string) => {
  try {
    return statSync(p).isSocket();
  } catch {
    return false;
  }
};

export interface SocketSearch {
  /** The socket found, or undefined. */
  socket: string | undefined;
  /** Every place looked at, in order, for the message when none is found. */
  looked: string[];
}

/** The socket PHP would use: php.ini's mysqli.default_socket, then the usual paths. */
export function findLocalSocket(
  iniFiles: string[] = phpIniFiles(),
  candidates: string[] = USUAL_SOCKETS,
): SocketSearch {
  const looked: string[] = [];
  for (const ini of iniFiles) {
    if (!existsSync(ini)) continue;
    let configured: string | undefined;
    try {
      configured = socketFromPhpIni(readFileSync(ini, 'utf8'));
    } catch {
      continue;
    }
    if (!configured) continue;
    looked.push(`${configured} (mysqli.default_socket in ${ini})`);
    if (isSocket(configured)) return { socket: configured, looked };
  }
  for (const c of candidates) {
    looked.push(c);
    if (isSocket(c)) return { socket: c, looked };
  }
  return { socket: undefined, looked };
}
