import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import { parseWpConfig } from '../src/wordpress/config.js';
import { ConfigError } from '../src/errors.js';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('has the contract defaults', () => {
    const c = loadConfig({});
    expect(c).to.include({
      databaseUrl: 'mysql://root@127.0.0.1:3306/lms',
      tablePrefix: 'wp_',
      host: '127.0.0.1',
      port: 8080,
      allowPrivateTargets: false,
    });
    expect(c.apiToken).to.equal(undefined);
    expect(Object.isFrozen(c)).to.equal(true);
  });

  it('names the variable in one line when a value is bad', () => {
    const cases: [Record<string, string>, string, RegExp][] = [
      [{ TABLE_PREFIX: 'wp_; DROP TABLE x' }, 'TABLE_PREFIX', /TABLE_PREFIX may contain only letters, digits and _/],
      [{ PORT: 'eighty' }, 'PORT', /PORT must be a number/],
      [{ DATABASE_URL: 'postgres://x/y' }, 'DATABASE_URL', /DATABASE_URL must be a mysql:\/\/ URL/],
      [{ ALLOW_PRIVATE_TARGETS: 'maybe' }, 'ALLOW_PRIVATE_TARGETS', /ALLOW_PRIVATE_TARGETS must be a boolean/],
      [{ API_TOKEN: 'short' }, 'API_TOKEN', /API_TOKEN must be at least 16 characters/],
    ];
    for (const [env, variable, message] of cases) {
      const e = configError(env);
      expect(e.variable).to.equal(variable);
      expect(e.message).to.match(message);
      expect(e.message).to.not.include('\n');
    }
  });

  it('reads DB_* and $table_prefix from WP_CONFIG when DATABASE_URL and TABLE_PREFIX are unset', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'wpcfg-'));
    const file = path.join(dir, 'wp-config.php');
    writeFileSync(
      file,
      `<?php
// define('DB_NAME', 'commented_out');
define( 'DB_NAME', 'lms_site' );
define( "DB_USER", "wp user" );
define( 'DB_PASSWORD', 'p@ss\\'word:/' );
define( 'DB_HOST', 'db.internal:3307' );
/* define('DB_HOST', 'nope'); */
define( 'DB_CHARSET', 'utf8mb4' );
$table_prefix = 'lms_';
`,
    );
    const c = loadConfig({ WP_CONFIG: file });
    expect(c.tablePrefix).to.equal('lms_');
    const u = new URL(c.databaseUrl);
    expect(u.hostname).to.equal('db.internal');
    expect(u.port).to.equal('3307');
    expect(decodeURIComponent(u.username)).to.equal('wp user');
    expect(decodeURIComponent(u.password)).to.equal("p@ss'word:/");
    expect(u.pathname).to.equal('/lms_site');
    // Explicit variables win over the file.
    expect(loadConfig({ WP_CONFIG: file, TABLE_PREFIX: 'other_' }).tablePrefix).to.equal('other_');
  });

  it('understands DB_HOST socket forms and refuses what it cannot read without PHP', () => {
    const base = `define('DB_NAME','n'); define('DB_USER','u'); $table_prefix = 'wp_';`;
    const sock = parseWpConfig(`${base} define('DB_HOST', 'localhost:/run/mysqld/mysqld.sock');`);
    expect(sock.socketPath).to.equal('/run/mysqld/mysqld.sock');
    expect(parseWpConfig(`${base} define("DB_PASSWORD", "a\\x41\\$b");`).databaseUrl).to.include(
      encodeURIComponent('aA$b'),
    );
    expect(() => parseWpConfig(`${base} define('DB_PASSWORD', getenv('PW'));`)).to.throw(
      /DB_PASSWORD is not a plain quoted string/,
    );
    expect(() => parseWpConfig(`${base} define('DB_PASSWORD', "x$secret");`)).to.throw(/interpolates a PHP variable/);
    expect(() => parseWpConfig(`define('DB_USER','u'); $table_prefix='wp_';`)).to.throw(/DB_NAME/);
  });
});
