/**
 * WP_CONFIG with real wp-config.php files, including awkward ones, and a
 * sidecar started with nothing but WP_CONFIG against the local MariaDB.
 */
import { randomSalts } from './support/wordpress.js';
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { loadConfig } from '../src/config.js';
import { readWpConfig } from '../src/wordpress/config.js';
import { ConfigError } from '../src/errors.js';
import { startSidecar } from '../src/sidecar.js';
import { silentLogger } from '../src/log.js';
import { SERVER_URL, useTestDb } from './support/db.js';

const fixture = (name: string) => path.resolve('test/fixtures/wp-config', name);

describe('WP_CONFIG', () => {
  it("reads WordPress's own sample layout", () => {
    const wp = readWpConfig(fixture('standard.php'));
    expect(wp.tablePrefix).to.equal('wp_');
    const u = new URL(wp.databaseUrl);
    expect([
      u.hostname,
      u.port,
      decodeURIComponent(u.username),
      decodeURIComponent(u.password),
      u.pathname,
    ]).to.deep.equal(['localhost', '3306', 'lms_user', 'S3cr3t!pa$$', '/wordpress_lms']);
    expect(wp.charset).to.equal('utf8mb4');
  });

  it('survives comments, both quote styles, escapes, odd spacing, a socket host and a closing tag', () => {
    const wp = readWpConfig(fixture('awkward.php'));
    expect(wp.tablePrefix).to.equal('lms2024_');
    const u = new URL(wp.databaseUrl);
    expect(decodeURIComponent(u.pathname.slice(1))).to.equal('lms "quoted" db');
    expect(decodeURIComponent(u.username)).to.equal("o'brien");
    expect(decodeURIComponent(u.password)).to.equal('tab\there\\backslash $dollar AA');
    expect(u.hostname).to.equal('db.internal');
    expect(wp.socketPath).to.equal('/var/run/mysqld/mysqld.sock');
  });

  it('reads an IPv6 host with a port', () => {
    const u = new URL(readWpConfig(fixture('ipv6.php')).databaseUrl);
    expect([u.hostname, u.port]).to.deep.equal(['[::1]', '3307']);
  });

  it('refuses computed values and missing files with one clear line', () => {
    expect(() => readWpConfig(fixture('computed.php'))).to.throw(
      ConfigError,
      /DB_NAME is not a plain quoted string .*getenv/,
    );
    expect(() => loadConfig({ WP_CONFIG: '/nonexistent/wp-config.php' })).to.throw(
      ConfigError,
      /WP_CONFIG cannot be read: ENOENT/,
    );
  });

  describe('a sidecar started with nothing but WP_CONFIG', () => {
    const db = useTestDb('wpconfig');

    it('connects to the database it names and follows its table prefix', async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'wp-'));
      const file = path.join(dir, 'wp-config.php');
      // The server the suite runs against (TEST_MYSQL_URL, else the local MariaDB), as WordPress would name it.
      const server = new URL(SERVER_URL);
      // Its keys and salts, as the installer writes them: the secrets key is derived from them.
      const salts = Object.entries(randomSalts())
        .map(([k, v]) => `define( '${k}', '${v}' );`)
        .join('\n');
      writeFileSync(
        file,
        `<?php\ndefine( 'DB_NAME', '${db.get().name}' );\ndefine( 'DB_USER', '${decodeURIComponent(server.username)}' );\ndefine( 'DB_PASSWORD', '${decodeURIComponent(server.password)}' );\ndefine( 'DB_HOST', '${server.hostname}:${server.port || 3306}' );\n${salts}\n$table_prefix = 'lmsx_';\n`,
      );
      const config = loadConfig({ WP_CONFIG: file, PORT: '0', ADMIN_PASSWORD: 'irrelevant-here' });
      expect(config.tablePrefix).to.equal('lmsx_');
      const sidecar = await startSidecar(config, silentLogger, { loop: false, print: () => {} });
      await sidecar.stop();
      const [tables] = await db.get().pool.query<RowDataPacket[]>("SHOW TABLES LIKE 'lmsx\\_webhook\\_%'");
      expect(tables.map((r) => Object.values(r)[0])).to.include.members([
        'lmsx_webhook_outbox',
        'lmsx_webhook_deliveries',
        'lmsx_webhook_endpoints',
      ]);
    });
  });
});
