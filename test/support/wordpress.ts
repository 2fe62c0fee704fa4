/**
 * A real WordPress for tests: Debian's wordpress package, installed into a
 * test database by WordPress's own wp_install() under php-cli, with users
 * whose password hashes WordPress itself writes. Also runs the README's
 * LMS-author snippet inside that WordPress.
 */
import { runChild } from './child.js';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WP_SALT_NAMES } from '../../src/secrets.js';

export const WP_ABSPATH = process.env.WP_ABSPATH ?? '/usr/share/wordpress/';
export const PHP_DIR = fileURLToPath(new URL('../../../test/support/php/', import.meta.url));
const README = fileURLToPath(new URL('../../../README.md', import.meta.url));

export interface WpUserSpec {
  login: string;
  email: string;
  password: string;
  role: 'administrator' | 'editor' | 'author' | 'subscriber';
  /** Another scheme for user_pass than the one this WordPress writes (phpass). */
  hash?: 'wp68' | 'bcrypt' | 'md5';
}

export interface InstallOptions {
  dbName: string;
  dbUser: string;
  dbPassword: string;
  /** As PHP's mysqli takes it: 127.0.0.1:3306, localhost, localhost:/path.sock. */
  dbHost: string;
  prefix: string;
  admin: { login: string; email: string; password: string };
  users: WpUserSpec[];
  options: Record<string, string>;
}

export async function php(args: string[]): Promise<string> {
  try {
    return (await runChild('php', args)).stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`php ${path.basename(args[0]!)} failed: ${e.stderr || e.stdout || e.message}`, { cause: err });
  }
}

/** The database, prefix and WordPress directory as the installer scripts take them (php/connect.php). */
export function dbArgs(o: { dbName: string; dbUser: string; dbPassword: string; dbHost: string; prefix: string }) {
  return {
    db_name: o.dbName,
    db_user: o.dbUser,
    db_password: o.dbPassword,
    db_host: o.dbHost,
    prefix: o.prefix,
    abspath: WP_ABSPATH,
  };
}

/** Installs the site; returns each user's id and the hash WordPress stored. */
export async function installWordPress(
  o: InstallOptions,
): Promise<{ users: Record<string, { id: number; hash: string }> }> {
  const out = await php([
    path.join(PHP_DIR, 'install-site.php'),
    JSON.stringify({
      ...dbArgs(o),
      admin: o.admin,
      users: o.users,
      options: o.options,
    }),
  ]);
  return JSON.parse(out.slice(out.indexOf('{'))) as { users: Record<string, { id: number; hash: string }> };
}

/** A wp-config.php as WordPress's own sample lays it out, in a fresh directory. */
export function writeWpConfig(o: {
  dbName: string;
  dbUser: string;
  dbPassword: string;
  dbHost: string;
  prefix: string;
  /** The authentication keys and salts (as the installer writes them); unique random ones by default. */
  salts?: Record<string, string>;
  /** The lines Network Setup asks for: a multisite network of sites under paths of localhost. */
  multisite?: boolean;
}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'whtest-wp-'));
  const file = path.join(dir, 'wp-config.php');
  const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  writeFileSync(
    file,
    `<?php
/** The base configuration for WordPress (as wp-config-sample.php lays it out). */
define( 'DB_NAME', ${q(o.dbName)} );
define( 'DB_USER', ${q(o.dbUser)} );
define( 'DB_PASSWORD', ${q(o.dbPassword)} );
define( 'DB_HOST', ${q(o.dbHost)} );
define( 'DB_CHARSET', 'utf8mb4' );
define( 'DB_COLLATE', '' );
${Object.entries(o.salts ?? randomSalts())
  .map(([k, v]) => `define( '${k}', ${q(v)} );`)
  .join('\n')}
$table_prefix = ${q(o.prefix)};
${
  o.multisite
    ? `define( 'WP_ALLOW_MULTISITE', true );
define( 'MULTISITE', true );
define( 'SUBDOMAIN_INSTALL', false );
define( 'DOMAIN_CURRENT_SITE', 'localhost' );
define( 'PATH_CURRENT_SITE', '/' );
define( 'SITE_ID_CURRENT_SITE', 1 );
define( 'BLOG_ID_CURRENT_SITE', 1 );`
    : ''
}
define( 'WP_DEBUG', false );
if ( ! defined( 'ABSPATH' ) ) {
\tdefine( 'ABSPATH', ${q(WP_ABSPATH)} );
}
require_once ABSPATH . 'wp-settings.php';
`,
  );
  return file;
}

/** Eight unique keys and salts, as https://api.wordpress.org/secret-key/1.1/salt/ hands them out. */
export function randomSalts(): Record<string, string> {
  return Object.fromEntries(WP_SALT_NAMES.map((n) => [n, randomBytes(48).toString('base64')]));
}

/** The code block that follows `<!-- test: NAME … -->` in the README. */
export function readmeBlock(name: string): string {
  const text = readFileSync(README, 'utf8');
  const m = new RegExp(`<!-- test: ${name}\\b[^>]*-->\\s*\`\`\`\\w*\\n([\\s\\S]*?)\`\`\``).exec(text);
  if (!m) throw new Error(`README has no block marked "test: ${name}"`);
  return m[1]!;
}

export interface LmsJob {
  time_zone?: string;
  prefix?: string;
  /** A network's site to run as (switch_to_blog), so the snippet writes that site's outbox. */
  blog_id?: number;
  business_table: string;
  events: { type: string; data: unknown }[];
}

/** Runs the README's lms_webhook_emit inside WordPress loaded from `wpConfig`, as the LMS would. */
export async function runLms(wpConfig: string, job: LmsJob): Promise<{ results: boolean[]; last_error: string }> {
  const snippet = path.join(path.dirname(wpConfig), 'lms-snippet.php');
  writeFileSync(snippet, `<?php\n${readmeBlock('lms-snippet')}`);
  const out = await php([path.join(PHP_DIR, 'lms.php'), wpConfig, snippet, JSON.stringify(job)]);
  return JSON.parse(out.slice(out.indexOf('{'))) as { results: boolean[]; last_error: string };
}
