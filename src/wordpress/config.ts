/**
 * Reads DB_* constants and $table_prefix from a wp-config.php without running
 * it. Comments are stripped; files it includes by a path that can be read
 * without PHP (a literal, or __DIR__ / dirname(__FILE__) plus a literal) are
 * spliced in where they are included, as PHP would run them; then only
 * `define('NAME', 'literal')` and `$table_prefix = 'literal';` are read, the
 * first define of a constant winning as in PHP (so Debian's
 * `if (!defined('DB_HOST')) define('DB_HOST', 'localhost')` stays a default).
 * Anything computed (getenv(), concatenation, interpolation) is refused with
 * a message that says so. An include whose path is computed at request time
 * (Debian's '/etc/wordpress/config-' . $host . '.php') is resolved only when
 * its directory holds exactly one file it could name; otherwise the start
 * stops naming the file, the constant and that directory.
 */
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { findLocalSocket, type SocketSearch } from './socket.js';
import { WP_SALT_NAMES } from '../secrets.js';

export interface WpConfig {
  databaseUrl: string;
  socketPath: string | undefined;
  tablePrefix: string;
  charset: string | undefined;
  /** What the reader decided for the operator to know (a file it chose, TCP instead of a socket), logged at start. */
  notes: string[];
  /** The WordPress salts defined as plain strings, in WP_SALT_NAMES order: what the secrets key is derived from. */
  salts: [string, string][];
  /** Why a salt that is defined cannot be read without PHP (names the constant, never a value). */
  saltProblem: string | undefined;
  /** MULTISITE is defined true: the install is a network of sites (config.ts decides whether to serve it whole). */
  multisite: boolean;
}

export interface ReadOptions {
  /** Where the local socket is; tests pass their own search. */
  findSocket?: () => SocketSearch;
}

const STRING = String.raw`'(?:[^'\\]|\\[\s\S])*'|"(?:[^"\\]|\\[\s\S])*"`;
const MAX_INCLUDE_DEPTH = 8;
/** Constants read in the order a missing one is reported. */
const DB_CONSTANTS = ['DB_NAME', 'DB_USER', 'DB_PASSWORD', 'DB_HOST'] as const;

interface Computed {
  /** Marker left in the flattened code where the include stood. */
  marker: string;
  file: string;
  /** How the include is shown in a message. */
  expr: string;
  /** The path expressions it may take: itself, or every assignment to the variable it names. */
  paths: string[];
}

/** The config with its readable includes spliced in, and what reading it met. */
interface Flat {
  code: string;
  computed: Computed[];
  /** Real paths read so far: require_once semantics, and no include loops. */
  seen: Set<string>;
}

export function readWpConfig(file: string, opts: ReadOptions = {}): WpConfig {
  let flat: Flat;
  try {
    flat = flatten(file, { seen: new Set(), computed: [] }, 0);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError('WP_CONFIG', `WP_CONFIG cannot be read: ${(err as Error).message}`, { cause: err });
  }
  return resolve(flat, file, opts);
}

/** For a wp-config.php given as text (no includes are followed). */
export function parseWpConfig(text: string, file = 'wp-config.php', opts: ReadOptions = {}): WpConfig {
  return resolve({ code: stripComments(text), computed: [], seen: new Set() }, file, opts);
}

function flatten(file: string, state: Omit<Flat, 'code'>, depth: number): Flat {
  const code = stripComments(readFileSync(file, 'utf8'));
  state.seen.add(realpathSync(file));
  // Only at the start of a statement, so the word inside a string literal is not taken for one.
  const include = /(?<=(?:^|[;{}):]|\belse)\s*)\b(?:require_once|include_once|require|include)\b\s*(\(?)([^;]*?)\s*;/g;
  let out = '';
  let last = 0;
  for (const m of code.matchAll(include)) {
    out += code.slice(last, m.index);
    last = m.index + m[0].length;
    let expr = m[2]!.trim();
    if (m[1] === '(' && expr.endsWith(')')) expr = expr.slice(0, -1).trim();
    // WordPress itself, not configuration.
    if (/wp-settings\.php['"]\s*$/.test(expr)) continue;
    const target = includePath(expr, path.dirname(file));
    if (target === null) {
      // require_once($debian_file): the path is whatever was assigned to the variable before.
      const variable = /^\$([A-Za-z_]\w*)$/.exec(expr)?.[1];
      const assigned = variable
        ? [...code.slice(0, m.index).matchAll(new RegExp(String.raw`\$${variable}\s*=\s*([^;]+?)\s*;`, 'g'))].map(
            (a) => a[1]!,
          )
        : [];
      const shown = assigned.length ? `${expr} = ${assigned.at(-1)}` : expr;
      const c: Computed = {
        marker: `\u0000computed-include-${state.computed.length}\u0000`,
        file,
        expr: shown,
        paths: assigned.length ? assigned : [expr],
      };
      state.computed.push(c);
      out += c.marker;
      continue;
    }
    // `if (file_exists(X)) include X;` is common for optional local files: a missing one is skipped.
    if (!existsSync(target)) continue;
    const real = realpathSync(target);
    if (state.seen.has(real)) continue; // require_once, and no include loops
    if (depth >= MAX_INCLUDE_DEPTH)
      throw new ConfigError('WP_CONFIG', `WP_CONFIG ${file}: includes nest deeper than ${MAX_INCLUDE_DEPTH} files`);
    out += flatten(target, state, depth + 1).code;
  }
  out += code.slice(last);
  return { ...state, code: out };
}

/** The file an include names, when it can be known without running PHP; null when computed. */
function includePath(expr: string, dir: string): string | null {
  const lit = new RegExp(`^(?:${STRING})$`);
  if (lit.test(expr)) {
    const p = unquote(expr);
    return p === null ? null : path.resolve(dir, p);
  }
  const rel = new RegExp(String.raw`^(?:__DIR__|dirname\s*\(\s*__FILE__\s*\))\s*\.\s*(${STRING})$`).exec(expr);
  if (rel) {
    const p = unquote(rel[1]!);
    return p === null ? null : path.join(dir, p);
  }
  return null;
}

/** A literal without interpolation, or null. */
function unquote(e: string): string | null {
  try {
    return literal(e, 'path', (m) => {
      throw new Error(m);
    });
  } catch {
    return null;
  }
}

function resolve(flat: Flat, file: string, opts: ReadOptions): WpConfig {
  const fail = (msg: string): never => {
    throw new ConfigError('WP_CONFIG', `WP_CONFIG ${file}: ${msg}`);
  };
  const notes: string[] = [];
  let code = flat.code;

  // A computed include before a setting may be where it comes from.
  const firstComputed = () => flat.computed.find((c) => code.includes(c.marker));
  const decidedAfterComputed = (): string | null => {
    const c = firstComputed();
    if (!c) return null;
    const at = code.indexOf(c.marker);
    for (const name of DB_CONSTANTS) {
      const d = firstDefine(code, name);
      if (!d || d.index > at) return name;
    }
    return null;
  };
  for (let guard = 0; guard < 10; guard++) {
    const name = decidedAfterComputed();
    if (!name) break;
    const c = firstComputed()!;
    const { dir, candidates } = candidatesFor(c);
    const where = c.file === file ? 'it' : c.file;
    if (candidates.length !== 1) {
      const found = candidates.length
        ? `${candidates.length} files it could name (${candidates.map((f) => path.basename(f)).join(', ')})`
        : 'no file it could name';
      fail(
        `${name} comes from a file that ${where} includes by a path computed when PHP runs (${c.expr.slice(0, 100)}), which cannot be read without PHP; ${dir ?? 'its directory'} has ${found}. Set WP_CONFIG to the one for this site, or set DATABASE_URL and TABLE_PREFIX`,
      );
    }
    // One file is the only one the include can name for any request, so it is what this site runs with.
    const only = candidates[0]!;
    notes.push(`read ${only}: the only file in ${dir} that the computed include in ${c.file} can name`);
    code = code.replace(c.marker, flatten(only, flat, 1).code);
  }

  const constant = (name: string, required: boolean): string | undefined => {
    const d = firstDefine(code, name);
    if (!d) {
      if (required) fail(`define('${name}', …) not found`);
      return undefined;
    }
    return literal(d.expr, name, fail);
  };

  const name = constant('DB_NAME', true)!;
  const user = constant('DB_USER', true)!;
  const password = constant('DB_PASSWORD', false) ?? '';
  const hostSpec = constant('DB_HOST', false) ?? 'localhost';
  const charset = constant('DB_CHARSET', false) || undefined;
  const prefixExpr = tablePrefixExpr(code) ?? fail('$table_prefix = …; not found');
  const tablePrefix = literal(prefixExpr, '$table_prefix', fail);

  const multisiteDefine = firstDefine(code, 'MULTISITE');
  const multisite = Boolean(multisiteDefine && /^true$/i.test(multisiteDefine.expr.trim()));
  const dbHost = parseDbHost(hostSpec, fail);
  const { port, localSocket } = dbHost;
  let { host, socketPath } = dbHost;
  if (localSocket) {
    const search = (opts.findSocket ?? (() => findLocalSocket()))();
    if (search.socket) {
      socketPath = search.socket;
      notes.push(`DB_HOST '${hostSpec}' means the local Unix socket, as PHP's mysqli takes it: using ${search.socket}`);
    } else {
      host = '127.0.0.1';
      notes.push(
        `DB_HOST '${hostSpec}' means the local Unix socket, but none was found (looked at ${search.looked.join(', ')}); connecting over TCP to 127.0.0.1:${port}. Name the socket with DB_HOST 'localhost:/path/to/mysqld.sock' if the account exists only for localhost`,
      );
    }
  }
  const auth = encodeURIComponent(user) + (password ? ':' + encodeURIComponent(password) : '');
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const query = charset ? `?charset=${encodeURIComponent(charset)}` : '';
  return {
    databaseUrl: `mysql://${auth}@${hostPart}:${port}/${encodeURIComponent(name)}${query}`,
    socketPath,
    tablePrefix,
    charset,
    notes,
    multisite,
    ...readSalts(code, file),
  };
}

/** The salts as plain strings; one computed when PHP runs (getenv…) is named, not guessed. */
function readSalts(code: string, file: string): Pick<WpConfig, 'salts' | 'saltProblem'> {
  const salts: [string, string][] = [];
  let saltProblem: string | undefined;
  for (const name of WP_SALT_NAMES) {
    const d = firstDefine(code, name);
    if (!d) continue;
    try {
      salts.push([
        name,
        literal(d.expr, name, (m) => {
          throw new Error(m);
        }),
      ]);
    } catch {
      saltProblem ??= `${name} in ${file} is not a plain quoted string (it is computed when PHP runs), so its value cannot be read`;
    }
  }
  return { salts, saltProblem };
}

function firstDefine(code: string, name: string): { index: number; expr: string } | null {
  const re = new RegExp(String.raw`\bdefine\s*\(\s*(['"])${name}\1\s*,\s*([^;]*?)\s*\)\s*;`, 'g');
  const m = re.exec(code);
  return m ? { index: m.index, expr: m[2]! } : null;
}

/**
 * The $table_prefix in force: the last plain assignment, as PHP runs them in
 * order; one guarded by `if (!isset($table_prefix))` (Debian's default) only
 * when there is no other.
 */
function tablePrefixExpr(code: string): string | undefined {
  const plain: string[] = [];
  const guarded: string[] = [];
  for (const m of code.matchAll(/\$table_prefix\s*=\s*([^;]*?)\s*;/g)) {
    const before = code.slice(Math.max(0, m.index - 80), m.index);
    (/if\s*\(\s*!\s*isset\s*\(\s*\$table_prefix\s*\)\s*\)\s*\{?\s*$/.test(before) ? guarded : plain).push(m[1]!);
  }
  return plain.at(-1) ?? guarded[0];
}

/** The directory and files a computed include could name: each path's leading literal's directory, filtered by its literal parts. */
function candidatesFor(c: Computed): { dir: string | null; candidates: string[] } {
  let dir: string | null = null;
  const found = new Set<string>();
  for (const expr of c.paths) {
    const literals = [...expr.matchAll(new RegExp(STRING, 'g'))].map((m) => unquote(m[0]) ?? '');
    const head = new RegExp(`^(?:${STRING})`).test(expr.trimStart()) ? literals[0] : undefined;
    if (!head || !head.includes('/')) continue;
    const here = path.resolve(path.dirname(c.file), head.slice(0, head.lastIndexOf('/') + 1));
    dir ??= here;
    const startsWith = head.slice(head.lastIndexOf('/') + 1);
    const endsWith = literals.length > 1 ? literals.at(-1)! : '';
    try {
      for (const n of readdirSync(here)) {
        if (n.startsWith(startsWith) && n.endsWith(endsWith) && n.length > startsWith.length + endsWith.length)
          found.add(path.join(here, n));
      }
    } catch {
      // no such directory: no candidates from this path
    }
  }
  return { dir, candidates: [...found].sort() };
}

/**
 * DB_HOST forms WordPress accepts: host, host:port, host:/socket, [v6]:port,
 * /socket. As PHP's mysqli takes them, 'localhost' and an empty host mean
 * the local Unix socket (a port given with it is ignored, as mysqli does).
 */
function parseDbHost(
  spec: string,
  fail: (m: string) => never,
): { host: string; port: number; socketPath?: string; localSocket: boolean } {
  const s = spec.trim();
  if (s.startsWith('/')) return { host: 'localhost', port: 3306, socketPath: s, localSocket: false };
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(s);
  if (v6) return { host: v6[1]!, port: v6[2] ? Number(v6[2]) : 3306, localSocket: false };
  const idx = s.indexOf(':');
  const host = (idx === -1 ? s : s.slice(0, idx)) || 'localhost';
  const rest = idx === -1 ? '' : s.slice(idx + 1);
  const local = host.toLowerCase() === 'localhost';
  if (rest.startsWith('/')) return { host, port: 3306, socketPath: rest, localSocket: false };
  if (rest === '') return { host, port: 3306, localSocket: local };
  if (/^\d{1,5}$/.test(rest) && Number(rest) <= 65535) return { host, port: Number(rest), localSocket: local };
  return fail(`DB_HOST "${spec}" is neither host, host:port nor host:/path/to.sock`);
}

/** The value of one PHP string literal; anything else is refused. */
function literal(expr: string, what: string, fail: (m: string) => never): string {
  const e = expr.trim();
  if (!new RegExp(`^(?:${STRING})$`).test(e)) {
    return fail(
      `${what} is not a plain quoted string (found ${e.slice(0, 60)}); set DATABASE_URL and TABLE_PREFIX instead`,
    );
  }
  const body = e.slice(1, -1);
  if (e[0] === "'") return body.replace(/\\([\\'])/g, '$1');
  if (/(^|[^\\])(\\\\)*\$[A-Za-z_{]/.test(body)) {
    return fail(
      `${what} interpolates a PHP variable, which cannot be read without running PHP; set DATABASE_URL and TABLE_PREFIX instead`,
    );
  }
  return body.replace(/\\(u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{1,2}|[0-7]{1,3}|[\s\S])/g, (_m, esc: string) => {
    if (esc[0] === 'u') return String.fromCodePoint(parseInt(esc.slice(2, -1), 16));
    if (esc[0] === 'x') return String.fromCharCode(parseInt(esc.slice(1), 16));
    if (/^[0-7]/.test(esc)) return String.fromCharCode(parseInt(esc, 8) & 0xff);
    const simple: Record<string, string> = {
      n: '\n',
      t: '\t',
      r: '\r',
      v: '\v',
      e: '\x1b',
      f: '\f',
      '\\': '\\',
      $: '$',
      '"': '"',
    };
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
