/**
 * wp-config.php layouts of real hosts: Debian's master file with its
 * computed include, literal includes, the local socket found as PHP finds
 * it, and DATABASE_URL's socket and percent-encoding rules.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseWpConfig, readWpConfig } from '../../src/wordpress/config.js';
import { findLocalSocket, socketFromPhpIni } from '../../src/wordpress/socket.js';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/wp-config/', import.meta.url));
const noSocket = () => ({ socket: undefined, looked: ['/nowhere.sock'] });

/** Debian's /usr/share/wordpress/wp-config.php, pointed at a directory of the test's own instead of /etc/wordpress. */
function debianSite(files: Record<string, string>): { master: string; etc: string } {
  const root = mkdtempSync(path.join(tmpdir(), 'whtest-debian-'));
  const etc = path.join(root, 'etc-wordpress');
  mkdirSync(etc);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(etc, name), text);
  const master = path.join(root, 'wp-config.php');
  writeFileSync(
    master,
    readFileSync(path.join(FIXTURES, 'debian-master.php'), 'utf8').replaceAll('/etc/wordpress', etc),
  );
  return { master, etc };
}

const siteFile = (db: string, prefix?: string) =>
  `<?php\ndefine('DB_NAME', '${db}');\ndefine('DB_USER', 'lms');\ndefine('DB_PASSWORD', 's3cret');\ndefine('DB_HOST', 'db.internal:3307');\n${prefix ? `$table_prefix = '${prefix}';\n` : ''}`;

describe('wp-config.php on real hosts', () => {
  describe("Debian's and Ubuntu's layout", () => {
    it('reads the one config-*.php the computed include can name, and says so', () => {
      const { master, etc } = debianSite({ 'config-lms.example.com.php': siteFile('lms_site', 'lms_'), htaccess: '' });
      const c = readWpConfig(master, { findSocket: noSocket });
      const u = new URL(c.databaseUrl);
      expect([u.hostname, u.port, u.pathname, decodeURIComponent(u.password)]).to.deep.equal([
        'db.internal',
        '3307',
        '/lms_site',
        's3cret',
      ]);
      expect(c.tablePrefix, 'the site file wins over the guarded default').to.equal('lms_');
      expect(c.notes.join('\n')).to.contain(
        `read ${path.join(etc, 'config-lms.example.com.php')}: the only file in ${etc}`,
      );
    });

    it("falls back to Debian's guarded default prefix when the site file sets none; config-default.php counts as the one file", () => {
      const { master } = debianSite({ 'config-default.php': siteFile('default_site') });
      const c = readWpConfig(master, { findSocket: noSocket });
      expect(new URL(c.databaseUrl).pathname).to.equal('/default_site');
      expect(c.tablePrefix).to.equal('wp_');
    });

    it('stops with one line naming the file, the constant and the directory when several sites (or none) could be meant', () => {
      const { master, etc } = debianSite({
        'config-a.example.com.php': siteFile('a'),
        'config-b.example.com.php': siteFile('b'),
      });
      const err = (() => {
        try {
          readWpConfig(master, { findSocket: noSocket });
        } catch (e) {
          return e as ConfigError;
        }
        throw new Error('no error');
      })();
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.message.split('\n')).to.have.length(1);
      expect(err.message).to.equal(
        `WP_CONFIG ${master}: DB_NAME comes from a file that it includes by a path computed when PHP runs ($debian_file = '${etc}/config-'.strtolower($debian_server).'.php'), which cannot be read without PHP; ${etc} has 2 files it could name (config-a.example.com.php, config-b.example.com.php). Set WP_CONFIG to the one for this site, or set DATABASE_URL and TABLE_PREFIX`,
      );
      const none = debianSite({});
      expect(() => readWpConfig(none.master, { findSocket: noSocket })).to.throw(
        ConfigError,
        new RegExp(`${none.etc.replace(/[/.]/g, '\\$&')} has no file it could name`),
      );
    });

    it('reads the site file itself when WP_CONFIG names it', () => {
      const { etc } = debianSite({
        'config-a.example.com.php': siteFile('a', 'a_'),
        'config-b.example.com.php': siteFile('b'),
      });
      const c = readWpConfig(path.join(etc, 'config-a.example.com.php'));
      expect([new URL(c.databaseUrl).pathname, c.tablePrefix]).to.deep.equal(['/a', 'a_']);
    });
  });

  it('follows includes with a literal path, relative to the file, first define winning as in PHP', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'whtest-inc-'));
    writeFileSync(
      path.join(dir, 'db.php'),
      `<?php define('DB_NAME', 'from_include'); define('DB_PASSWORD', "inc'luded"); require_once __DIR__ . '/db.php';`,
    );
    writeFileSync(path.join(dir, 'secrets.php'), `<?php define('DB_USER', 'from_abs');`);
    const file = path.join(dir, 'wp-config.php');
    writeFileSync(
      file,
      `<?php
define('WP_NOTE', 'this string says include nothing; and require_once nothing');
require_once __DIR__ . '/db.php';
require_once( '${path.join(dir, 'secrets.php')}' );
if ( file_exists( dirname( __FILE__ ) . '/local.php' ) ) include dirname(__FILE__) . '/local.php';
if ( ! defined( 'DB_NAME' ) ) define( 'DB_NAME', 'guarded_default' );
define('DB_HOST', '127.0.0.1');
$table_prefix = 'inc_';
require_once ABSPATH . 'wp-settings.php';
`,
    );
    const c = readWpConfig(file);
    const u = new URL(c.databaseUrl);
    expect([u.pathname, decodeURIComponent(u.username), decodeURIComponent(u.password), c.tablePrefix]).to.deep.equal([
      '/from_include',
      'from_abs',
      "inc'luded",
      'inc_',
    ]);
  });

  describe('DB_HOST localhost means the local socket', () => {
    let server: net.Server;
    let sock: string;
    before(async () => {
      sock = path.join(mkdtempSync(path.join(tmpdir(), 'whtest-sock-')), 'mysqld.sock');
      server = net.createServer();
      await new Promise<void>((r) => server.listen(sock, r));
    });
    after(async () => {
      await new Promise<void>((r) => server.close(() => r()));
    });

    it("finds it as PHP does: php.ini's mysqli.default_socket, then the usual paths", () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'whtest-ini-'));
      const ini = path.join(dir, 'php.ini');
      writeFileSync(ini, `[MySQLi]\nmysqli.default_port = 3306\nmysqli.default_socket = "${sock}" ; a comment\n`);
      expect(socketFromPhpIni('mysqli.default_socket =\npdo_mysql.default_socket= /x.sock')).to.equal('/x.sock');
      expect(findLocalSocket([ini], ['/nowhere.sock'])).to.deep.equal({
        socket: sock,
        looked: [`${sock} (mysqli.default_socket in ${ini})`],
      });
      expect(findLocalSocket([path.join(dir, 'missing.ini')], ['/nowhere.sock', sock]).socket).to.equal(sock);
      // A plain file is not a socket.
      expect(findLocalSocket([], [ini]).socket).to.equal(undefined);
    });

    for (const host of ['localhost', '', 'localhost:3306']) {
      it(`DB_HOST '${host}' connects through the socket found`, () => {
        const dir = mkdtempSync(path.join(tmpdir(), 'whtest-lh-'));
        const file = path.join(dir, 'wp-config.php');
        writeFileSync(
          file,
          `<?php define('DB_NAME','n'); define('DB_USER','u'); define('DB_HOST', '${host}'); $table_prefix = 'wp_';`,
        );
        const c = readWpConfig(file, { findSocket: () => findLocalSocket([], [sock]) });
        expect(c.socketPath).to.equal(sock);
        const tcp = readWpConfig(file, { findSocket: noSocket });
        expect(tcp.socketPath).to.equal(undefined);
        expect(new URL(tcp.databaseUrl).hostname).to.equal('127.0.0.1');
        expect(tcp.notes.join('\n')).to.match(
          /none was found \(looked at \/nowhere\.sock\); connecting over TCP to 127\.0\.0\.1:3306/,
        );
      });
    }
  });

  it('serves a whole multisite network by default, and says so; NETWORK=false serves the main site alone and says which', () => {
    const text = `<?php
define( 'DB_NAME', 'lms' ); define( 'DB_USER', 'lms' ); define( 'DB_PASSWORD', 'pw' ); define( 'DB_HOST', '127.0.0.1' );
define( 'WP_ALLOW_MULTISITE', true );
define( 'MULTISITE', true );
define( 'SUBDOMAIN_INSTALL', false );
$table_prefix = 'wp_';
`;
    expect(parseWpConfig(text, '/var/www/wp-config.php').multisite).to.equal(true);
    expect(parseWpConfig(text.replace("'MULTISITE', true", "'MULTISITE', false")).multisite).to.equal(false);

    const file = path.join(mkdtempSync(path.join(tmpdir(), 'whtest-ms-')), 'wp-config.php');
    writeFileSync(file, text);
    const network = loadConfig({ WP_CONFIG: file, SECRETS_KEY: 'k'.repeat(32) });
    expect(network.network).to.equal(true);
    expect(network.notes).to.include(
      "serving every site of the WordPress network whose tables start with wp_: sites are read from wp_blogs every minute, each site's outbox is {site prefix}webhook_outbox (wp_webhook_outbox, wp_2_webhook_outbox, …)",
    );
    const alone = loadConfig({ WP_CONFIG: file, NETWORK: 'false', SECRETS_KEY: 'k'.repeat(32) });
    expect(alone.network).to.equal(false);
    expect(alone.notes).to.include(
      `${file} defines MULTISITE but NETWORK=false: this sidecar serves one site of the network, the one whose tables start with wp_ (its outbox is wp_webhook_outbox); the other sites' outboxes (wp_2_webhook_outbox, …) are not read`,
    );
    writeFileSync(file, text.replace("'MULTISITE', true", "'MULTISITE', false"));
    expect(loadConfig({ WP_CONFIG: file, SECRETS_KEY: 'k'.repeat(32) }).network).to.equal(false);
    expect(loadConfig({ NETWORK: '1', SECRETS_KEY: 'k'.repeat(32) }).network).to.equal(true);
    expect(() => loadConfig({ NETWORK: 'maybe' })).to.throw(ConfigError, 'NETWORK must be a boolean');
  });

  it('DATABASE_URL takes ?socket=, and says which characters of a password must be percent-encoded, never the password', () => {
    expect(
      loadConfig({ DATABASE_URL: 'mysql://wp@localhost/lms?socket=/run/mysqld/mysqld.sock' }).databaseSocket,
    ).to.equal('/run/mysqld/mysqld.sock');
    expect(() => loadConfig({ DATABASE_URL: 'mysql://wp@localhost/lms?socket=mysqld.sock' })).to.throw(
      ConfigError,
      /\?socket= must be an absolute path/,
    );
    const bad = () => loadConfig({ DATABASE_URL: 'mysql://lms:p@ss#w0rd?@127.0.0.1:3306/lms' });
    expect(bad).to.throw(
      ConfigError,
      'DATABASE_URL: the user name or password has characters that must be percent-encoded in a URL ("@", "#", "?"): write @ as %40, # as %23, ? as %3F, e.g. mysql://lms:p%40ss@127.0.0.1:3306/lms',
    );
    expect(bad).to.not.throw(/w0rd/);
    expect(loadConfig({ DATABASE_URL: 'mysql://lms:p%40ss%23w0rd%3F@127.0.0.1:3306/lms' }).databaseUrl).to.contain(
      'p%40ss',
    );
  });
});
