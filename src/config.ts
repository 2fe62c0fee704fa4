/**
 * The only reader of process.env. Every variable is documented once, here and
 * in README "Configuration"; a bad value stops the start with one line naming it.
 */
import Joi from 'joi';
import proxyaddr from 'proxy-addr';
import { ConfigError } from './errors.js';
import { readWpConfig } from './wordpress/config.js';
import { splitHosts } from './db/databaseUrl.js';

export interface Config {
  /** mysql://user:pass@host:port/db (or a socketPath set from wp-config.php). */
  readonly databaseUrl: string;
  /** Unix socket to reach MySQL through: DATABASE_URL's ?socket=, or wp-config.php's `localhost` / `localhost:/path`. */
  readonly databaseSocket: string | undefined;
  /** What reading wp-config.php decided that the operator should know; logged once at start. */
  readonly notes: readonly string[];
  /** WordPress table prefix; validated to [A-Za-z0-9_] so it is safe as an identifier. */
  readonly tablePrefix: string;
  readonly host: string;
  readonly port: number;
  readonly adminPassword: string | undefined;
  /** Bearer token for /api; the API answers 404 when unset. */
  readonly apiToken: string | undefined;
  readonly allowPrivateTargets: boolean;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** express `trust proxy`, for Secure cookies and client IPs behind a TLS proxy: a boolean, a hop count, or addresses/CIDRs/names. */
  readonly trustProxy: boolean | number | string;
  /** Requests in flight per process, over all endpoints. */
  readonly concurrency: number;
  /** smtp:// or smtps:// server operational events are mailed through; no mail when unset. */
  readonly smtpUrl: string | undefined;
  /** Who gets them; by default the WordPress admin_email option. */
  readonly notifyEmail: string | undefined;
}

export const DEFAULT_DATABASE_URL = 'mysql://root@127.0.0.1:3306/lms';

// Table names are `{prefix}webhook_attempts` at most 24 characters past the
// prefix; MySQL identifiers stop at 64, so the prefix may have 40.
const PREFIX_RE = /^[A-Za-z0-9_]{1,40}$/;

/** The environment as the schema leaves it: defaults filled in, numbers and booleans converted. */
interface CheckedEnv {
  DATABASE_URL?: string;
  TABLE_PREFIX?: string;
  WP_CONFIG?: string;
  HOST: string;
  PORT: number;
  ADMIN_PASSWORD?: string;
  API_TOKEN?: string;
  ALLOW_PRIVATE_TARGETS: boolean;
  LOG_LEVEL: Config['logLevel'];
  TRUST_PROXY: string;
  CONCURRENCY: number;
  SMTP_URL?: string;
  NOTIFY_EMAIL?: string;
}

const schema = Joi.object<CheckedEnv>({
  DATABASE_URL: Joi.string()
    .uri({ scheme: ['mysql', 'mariadb'] })
    .messages({
      'string.uriCustomScheme': '{{#label}} must be a mysql:// URL such as mysql://user:pass@127.0.0.1:3306/lms',
    }),
  TABLE_PREFIX: Joi.string().pattern(PREFIX_RE).messages({
    'string.pattern.base': '{{#label}} may contain only letters, digits and _ (at most 40), got {:#value}',
  }),
  WP_CONFIG: Joi.string(),
  HOST: Joi.string().hostname().default('127.0.0.1'),
  PORT: Joi.number().integer().min(0).max(65535).default(8080),
  ADMIN_PASSWORD: Joi.string().min(8).messages({ 'string.min': '{{#label}} must be at least 8 characters' }),
  API_TOKEN: Joi.string().min(16).messages({ 'string.min': '{{#label}} must be at least 16 characters' }),
  ALLOW_PRIVATE_TARGETS: Joi.boolean().truthy('1').falsy('0').sensitive(false).default(false),
  LOG_LEVEL: Joi.string().valid('debug', 'info', 'warn', 'error').default('info'),
  TRUST_PROXY: Joi.string().default(''),
  // Twice the default per-endpoint cap (64): one endpoint alone gets 64 requests
  // in flight, and a hanging endpoint still leaves half the slots to the others.
  CONCURRENCY: Joi.number().integer().min(1).max(1024).default(128),
  SMTP_URL: Joi.string()
    .uri({ scheme: ['smtp', 'smtps'] })
    .messages({
      'string.uriCustomScheme':
        '{{#label}} must be an smtp:// or smtps:// URL such as smtp://user:pass@mail.example.com:587',
      'string.uri': '{{#label}} must be an smtp:// or smtps:// URL such as smtp://user:pass@mail.example.com:587',
    }),
  NOTIFY_EMAIL: Joi.string()
    .email({ tlds: false })
    .messages({ 'string.email': '{{#label}} must be an e-mail address, got {:#value}' }),
})
  .unknown(true)
  .prefs({ errors: { wrap: { label: false } } });

/** Reads and validates the environment once; the result is frozen. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings mean "unset", as shells and compose files produce them.
  const cleaned: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') cleaned[k] = v;
  if (cleaned.DATABASE_URL) checkUserInfo(cleaned.DATABASE_URL);
  // Several hosts (a cluster) are checked as the URL with the first one; the list is parsed by the pool.
  const single = cleaned.DATABASE_URL ? { ...cleaned, DATABASE_URL: splitHosts(cleaned.DATABASE_URL).url } : cleaned;
  const result = schema.validate(single, { abortEarly: true, convert: true });
  if (result.error) {
    const detail = result.error.details[0];
    throw new ConfigError(String(detail?.path[0] ?? 'environment'), detail?.message ?? result.error.message);
  }
  const value: CheckedEnv = {
    ...result.value,
    ...(cleaned.DATABASE_URL ? { DATABASE_URL: cleaned.DATABASE_URL } : {}),
  };

  let databaseUrl: string = value.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  let tablePrefix: string = value.TABLE_PREFIX ?? 'wp_';
  let databaseSocket: string | undefined = socketParam(databaseUrl);
  let notes: string[] = [];
  if (value.WP_CONFIG && (value.DATABASE_URL === undefined || value.TABLE_PREFIX === undefined)) {
    const wp = readWpConfig(value.WP_CONFIG);
    if (value.DATABASE_URL === undefined) {
      databaseUrl = wp.databaseUrl;
      databaseSocket = wp.socketPath;
      notes = wp.notes;
    }
    if (value.TABLE_PREFIX === undefined) {
      if (!PREFIX_RE.test(wp.tablePrefix)) {
        throw new ConfigError(
          'WP_CONFIG',
          `$table_prefix in ${value.WP_CONFIG} may contain only letters, digits and _, got "${wp.tablePrefix}"`,
        );
      }
      tablePrefix = wp.tablePrefix;
    }
  }

  const trustProxy = parseTrustProxy(value.TRUST_PROXY);
  return Object.freeze({
    databaseUrl,
    databaseSocket,
    notes,
    tablePrefix,
    host: value.HOST,
    port: value.PORT,
    adminPassword: value.ADMIN_PASSWORD,
    apiToken: value.API_TOKEN,
    allowPrivateTargets: value.ALLOW_PRIVATE_TARGETS,
    logLevel: value.LOG_LEVEL,
    trustProxy,
    concurrency: value.CONCURRENCY,
    smtpUrl: value.SMTP_URL,
    notifyEmail: value.NOTIFY_EMAIL,
  });
}

/**
 * TRUST_PROXY in every form express's `trust proxy` takes: true/false, a
 * number of hops, or a comma-separated list of addresses, CIDRs and the names
 * loopback, linklocal, uniquelocal. The list is checked by proxy-addr, the
 * library express hands it to, so what passes here is what express will read.
 */
export function parseTrustProxy(raw: string): boolean | number | string {
  const v = raw.trim();
  if (v === '' || /^false$/i.test(v)) return false;
  if (/^true$/i.test(v)) return true;
  if (/^\d+$/.test(v)) return Number(v);
  const list = v.split(',').map((x) => x.trim());
  try {
    proxyaddr.compile(list);
  } catch (err) {
    throw new ConfigError(
      'TRUST_PROXY',
      `TRUST_PROXY must be true, false, a number of proxy hops, or addresses/CIDRs/loopback/linklocal/uniquelocal separated by commas; ${(err as Error).message} in "${v}"`,
    );
  }
  return list.join(',');
}

/** DATABASE_URL's ?socket=/path/to/mysqld.sock, for hosts where the account exists only for localhost. */
function socketParam(url: string): string | undefined {
  try {
    const s = new URL(url).searchParams.get('socket');
    if (s === null) return undefined;
    if (!s.startsWith('/'))
      throw new ConfigError(
        'DATABASE_URL',
        `DATABASE_URL ?socket= must be an absolute path such as /run/mysqld/mysqld.sock, got "${s}"`,
      );
    return s;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    return undefined;
  }
}

/**
 * A password with @, #, / or ? typed into the URL as is makes a URL parser
 * read another host or cut the rest off. Say so, naming the characters but
 * never the password.
 */
function checkUserInfo(url: string): void {
  const scheme = url.indexOf('://');
  if (scheme === -1) return;
  const rest = url.slice(scheme + 3);
  const at = rest.lastIndexOf('@');
  if (at === -1) return;
  const userInfo = rest.slice(0, at);
  const bad = [...new Set(userInfo.match(/[@/?#[\]\s]|%(?![0-9A-Fa-f]{2})/g) ?? [])];
  if (bad.length === 0) return;
  const enc = bad.map(
    (c) =>
      `${c === ' ' ? 'a space' : c} as ${encodeURIComponent(c) === c ? '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0') : encodeURIComponent(c)}`,
  );
  throw new ConfigError(
    'DATABASE_URL',
    `DATABASE_URL: the user name or password has characters that must be percent-encoded in a URL (${bad.map((c) => (c === ' ' ? 'a space' : `"${c}"`)).join(', ')}): write ${enc.join(', ')}, e.g. mysql://lms:p%40ss@127.0.0.1:3306/lms`,
  );
}
