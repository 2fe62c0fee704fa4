/**
 * The only reader of process.env. Every variable is documented once, here and
 * in README "Configuration"; a bad value stops the start with one line naming it.
 */
import Joi from 'joi';
import proxyaddr from 'proxy-addr';
import { ConfigError } from './errors.js';
import { readFileSync } from 'node:fs';
import { readWpConfig, type WpConfig } from './wordpress/config.js';
import type { ProxySettings } from './delivery/proxy.js';
import { keyFromSalts, keyFromString, WP_SALT_PLACEHOLDER, type SecretKey } from './secrets.js';
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
  /** The keys secrets are sealed with at rest (see secrets.ts). */
  readonly secrets: SecretsKeys;
  /** The egress proxy for deliveries: HTTPS_PROXY, HTTP_PROXY, NO_PROXY (or their lowercase forms). */
  readonly proxy: ProxySettings;
  /**
   * Serve every site of a WordPress multisite network (NETWORK, or WP_CONFIG
   * defining MULTISITE): sites from `{prefix}blogs`, each under its own prefix.
   */
  readonly network: boolean;
}

/**
 * `current` seals; `previous` only opens (SECRETS_KEY_PREVIOUS while rotating,
 * and the key WP_CONFIG's salts give once SECRETS_KEY replaces it), and what
 * they sealed is re-sealed with `current` at start. No current key is not an
 * error here (commands that touch no secret run without one); the start stops
 * with `missing`, naming the variable.
 */
export interface SecretsKeys {
  readonly current: SecretKey | null;
  readonly previous: readonly SecretKey[];
  readonly missing: { variable: string; message: string } | null;
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
  SECRETS_KEY?: string;
  SECRETS_KEY_FILE?: string;
  SECRETS_KEY_PREVIOUS?: string;
  NETWORK?: boolean;
}

const KEY_ADVICE = 'a random string of at least 32 characters, such as the output of `openssl rand -base64 32`';
const secretsKeyString = Joi.string()
  .min(32)
  .messages({ 'string.min': `{{#label}} must be ${KEY_ADVICE}` });

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
  SECRETS_KEY: secretsKeyString,
  SECRETS_KEY_FILE: Joi.string(),
  SECRETS_KEY_PREVIOUS: secretsKeyString,
  NETWORK: Joi.boolean().truthy('1').falsy('0').sensitive(false),
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
  let wp: WpConfig | undefined;
  if (
    value.WP_CONFIG &&
    (value.DATABASE_URL === undefined || value.TABLE_PREFIX === undefined || value.NETWORK === undefined)
  ) {
    wp = readWpConfig(value.WP_CONFIG);
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

  const network = value.NETWORK ?? wp?.multisite ?? false;
  if (wp?.multisite && !network)
    notes.push(
      `${value.WP_CONFIG} defines MULTISITE but NETWORK=false: this sidecar serves one site of the network, the one whose tables start with ${tablePrefix} (its outbox is ${tablePrefix}webhook_outbox); the other sites' outboxes (${tablePrefix}2_webhook_outbox, …) are not read`,
    );
  if (network)
    notes.push(
      `serving every site of the WordPress network whose tables start with ${tablePrefix}: sites are read from ${tablePrefix}blogs every minute, each site's outbox is {site prefix}webhook_outbox (${tablePrefix}webhook_outbox, ${tablePrefix}2_webhook_outbox, …)`,
    );

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
    secrets: secretsKeys(value, wp),
    proxy: proxySettings(cleaned),
    network,
  });
}

/**
 * HTTPS_PROXY, HTTP_PROXY and NO_PROXY as curl and most tools read them: the
 * lowercase form wins when both are set; an http:// or https:// URL, with
 * credentials if the proxy wants them (never logged).
 */
function proxySettings(env: Record<string, string>): ProxySettings {
  const read = (name: string) => env[name.toLowerCase()] ?? env[name];
  const url = (name: string): string | null => {
    const v = read(name);
    if (v === undefined) return null;
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      throw new ConfigError(name, `${name} must be a proxy URL such as http://proxy.example.com:3128`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new ConfigError(
        name,
        `${name} must be an http:// or https:// proxy URL such as http://proxy.example.com:3128`,
      );
    return u.toString();
  };
  return Object.freeze({
    http: url('HTTP_PROXY'),
    https: url('HTTPS_PROXY'),
    noProxy: (read('NO_PROXY') ?? '')
      .split(/[,\s]+/)
      .map((e) => e.trim())
      .filter(Boolean),
  });
}

/**
 * The secrets key: SECRETS_KEY, or the file SECRETS_KEY_FILE names (as
 * Docker and systemd hand secrets over), or, with WP_CONFIG, one derived
 * from the site's WordPress salts so the zero-configuration path is sealed too.
 */
function secretsKeys(value: CheckedEnv, wpRead: WpConfig | undefined): SecretsKeys {
  if (value.SECRETS_KEY && value.SECRETS_KEY_FILE)
    throw new ConfigError('SECRETS_KEY_FILE', 'SECRETS_KEY and SECRETS_KEY_FILE are both set: set one of them');
  let current: SecretKey | null = null;
  if (value.SECRETS_KEY) current = keyFromString(value.SECRETS_KEY, 'SECRETS_KEY');
  if (value.SECRETS_KEY_FILE) current = keyFromString(readKeyFile(value.SECRETS_KEY_FILE), 'SECRETS_KEY_FILE');
  const previous: SecretKey[] = [];
  if (value.SECRETS_KEY_PREVIOUS) previous.push(keyFromString(value.SECRETS_KEY_PREVIOUS, 'SECRETS_KEY_PREVIOUS'));
  let missing: SecretsKeys['missing'] = null;
  if (value.WP_CONFIG) {
    const salts = saltsOf(value.WP_CONFIG, wpRead);
    if (current) {
      if (!('problem' in salts)) previous.push(salts.key);
    } else if ('problem' in salts) {
      missing = {
        variable: 'SECRETS_KEY',
        message: `SECRETS_KEY is not set and ${salts.problem}: set SECRETS_KEY to ${KEY_ADVICE}`,
      };
    } else current = salts.key;
  } else if (!current) {
    missing = {
      variable: 'SECRETS_KEY',
      message: `SECRETS_KEY is not set: secrets are stored encrypted with it; set it to ${KEY_ADVICE} (or set WP_CONFIG to derive one from the site's WordPress salts)`,
    };
  }
  return { current, previous: previous.filter((k) => k.id !== current?.id), missing };
}

function readKeyFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError('SECRETS_KEY_FILE', `SECRETS_KEY_FILE ${file} cannot be read: ${(err as Error).message}`);
  }
  if (text.length < 32) throw new ConfigError('SECRETS_KEY_FILE', `SECRETS_KEY_FILE ${file} must hold ${KEY_ADVICE}`);
  return text;
}

/** The key WordPress's salts give, or why they give none (never the salts themselves). */
function saltsOf(file: string, wpRead: WpConfig | undefined): { key: SecretKey } | { problem: string } {
  let wp = wpRead;
  if (!wp) {
    try {
      wp = readWpConfig(file);
    } catch (err) {
      return { problem: `WP_CONFIG cannot be read for its salts (${(err as Error).message})` };
    }
  }
  if (wp.saltProblem) return { problem: wp.saltProblem };
  const unique = wp.salts.filter(([, v]) => v !== WP_SALT_PLACEHOLDER && v.length >= 32);
  const names = new Set(unique.map(([n]) => n));
  if (!names.has('AUTH_KEY') || !names.has('SECURE_AUTH_KEY'))
    return {
      problem: `${file} has no unique AUTH_KEY and SECURE_AUTH_KEY to derive a key from (generate them at https://api.wordpress.org/secret-key/1.1/salt/)`,
    };
  return { key: keyFromSalts(unique) };
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
