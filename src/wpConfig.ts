/**
 * Reads DB_* constants and $table_prefix from a wp-config.php without running
 * it: comments are stripped, then only `define('NAME', 'literal')` and
 * `$table_prefix = 'literal';` are understood. Anything computed (getenv(),
 * concatenation, interpolation) is refused with a message that says so.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';

export interface WpConfig {
  databaseUrl: string;
  socketPath: string | undefined;
  tablePrefix: string;
  charset: string | undefined;
}

const STRING = String.raw`'(?:[^'\\]|\\[\s\S])*'|"(?:[^"\\]|\\[\s\S])*"`;

export function readWpConfig(path: string): WpConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('WP_CONFIG', `WP_CONFIG cannot be read: ${(err as Error).message}`, { cause: err });
  }
  return parseWpConfig(text, path);
}

export function parseWpConfig(text: string, path = 'wp-config.php'): WpConfig {
  const code = stripComments(text);
  const fail = (msg: string): never => {
    throw new ConfigError('WP_CONFIG', `WP_CONFIG ${path}: ${msg}`);
  };

  const constant = (name: string, required: boolean): string | undefined => {
    const re = new RegExp(String.raw`\bdefine\s*\(\s*(['"])${name}\1\s*,\s*([^;]*?)\s*\)\s*;`, 'g');
    let last: string | undefined;
    for (const m of code.matchAll(re)) last = m[2];
    if (last === undefined) {
      if (required) fail(`define('${name}', …) not found`);
      return undefined;
    }
    return literal(last, name, fail);
  };

  const name = constant('DB_NAME', true)!;
  const user = constant('DB_USER', true)!;
  const password = constant('DB_PASSWORD', false) ?? '';
  const hostSpec = constant('DB_HOST', false) ?? 'localhost';
  const charset = constant('DB_CHARSET', false) || undefined;

  const prefixMatches = [...code.matchAll(/\$table_prefix\s*=\s*([^;]*?)\s*;/g)];
  const prefixExpr = prefixMatches.at(-1)?.[1];
  const tablePrefix = prefixExpr === undefined ? fail('$table_prefix = …; not found') : literal(prefixExpr, '$table_prefix', fail);

  const { host, port, socketPath } = parseDbHost(hostSpec, fail);
  const auth = encodeURIComponent(user) + (password ? ':' + encodeURIComponent(password) : '');
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const query = charset ? `?charset=${encodeURIComponent(charset)}` : '';
  return {
    databaseUrl: `mysql://${auth}@${hostPart}:${port}/${encodeURIComponent(name)}${query}`,
    socketPath,
    tablePrefix,
    charset,
  };
}

/** DB_HOST forms WordPress accepts: host, host:port, host:/socket, [v6]:port, /socket. */
function parseDbHost(spec: string, fail: (m: string) => never): { host: string; port: number; socketPath?: string } {
  const s = spec.trim();
  if (s.startsWith('/')) return { host: 'localhost', port: 3306, socketPath: s };
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(s);
  if (v6) return { host: v6[1]!, port: v6[2] ? Number(v6[2]) : 3306 };
  const idx = s.indexOf(':');
  if (idx === -1) return { host: s || 'localhost', port: 3306 };
  const host = s.slice(0, idx) || 'localhost';
  const rest = s.slice(idx + 1);
  if (rest.startsWith('/')) return { host, port: 3306, socketPath: rest };
  if (/^\d{1,5}$/.test(rest) && Number(rest) <= 65535) return { host, port: Number(rest) };
  return fail(`DB_HOST "${spec}" is neither host, host:port nor host:/path/to.sock`);
}

/** The value of one PHP string literal; anything else is refused. */
function literal(expr: string, what: string, fail: (m: string) => never): string {
  const e = expr.trim();
  if (!new RegExp(`^(?:${STRING})$`).test(e)) {
    return fail(`${what} is not a plain quoted string (found ${e.slice(0, 60)}); set DATABASE_URL and TABLE_PREFIX instead`);
  }
  const body = e.slice(1, -1);
  if (e[0] === "'") return body.replace(/\\([\\'])/g, '$1');
  if (/(^|[^\\])(\\\\)*\$[A-Za-z_{]/.test(body)) {
    return fail(`${what} interpolates a PHP variable, which cannot be read without running PHP; set DATABASE_URL and TABLE_PREFIX instead`);
  }
  return body.replace(/\\(u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{1,2}|[0-7]{1,3}|[\s\S])/g, (_m, esc: string) => {
    if (esc[0] === 'u') return String.fromCodePoint(parseInt(esc.slice(2, -1), 16));
    if (esc[0] === 'x') return String.fromCharCode(parseInt(esc.slice(1), 16));
    if (/^[0-7]/.test(esc)) return String.fromCharCode(parseInt(esc, 8) & 0xff);
    const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', v: '\v', e: '\x1b', f: '\f', '\\': '\\', $: '$', '"': '"' };
    return simple[esc] ?? '\\' + esc;
  });
}

/** Removes //, # and block comments (and anything after ?>), leaving string literals intact. */
function stripComments(src: string): string {
  let out = '';
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      out += src.slice(i, j + 1);
      i = j + 1;
    } else if (c === '?' && src[i + 1] === '>') {
      // End of PHP mode: what follows is HTML, where a stray apostrophe is not a string.
      break;
    } else if (c === '#' || (c === '/' && src[i + 1] === '/')) {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      i = end === -1 ? src.length : end + 2;
      out += ' ';
    } else {
      out += c;
      i++;
    }
  }
  return out;
}
