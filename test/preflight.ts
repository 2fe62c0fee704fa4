/**
 * Runs before mocha (`npm test`): the system packages the suite needs, named
 * in the first line with the command that installs them, instead of a
 * browser-launch error a minute into the run.
 */
import { accessSync, constants } from 'node:fs';

const needs: { what: string; path: string; pkg: string; for: string }[] = [
  { what: 'Chromium', path: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', pkg: 'chromium', for: 'the admin UI tests in a real browser' },
  { what: 'mariadb-install-db', path: '/usr/bin/mariadb-install-db', pkg: 'mariadb-server', for: 'the database outage test, which runs a MariaDB of its own' },
  { what: 'mariadbd', path: '/usr/sbin/mariadbd', pkg: 'mariadb-server', for: 'the database outage test' },
  { what: 'php', path: '/usr/bin/php', pkg: 'php-cli php-mysql', for: 'the WordPress tests, which install a real site' },
  { what: 'Galera', path: '/usr/lib/galera/libgalera_smm.so', pkg: 'galera-4', for: 'the cluster tests, which run a 3-node Galera cluster' },
  { what: 'rsync', path: '/usr/bin/rsync', pkg: 'rsync', for: 'Galera state transfer in the cluster tests' },
  { what: 'WordPress', path: `${process.env.WP_ABSPATH ?? '/usr/share/wordpress/'}wp-settings.php`, pkg: 'wordpress', for: 'the WordPress tests' },
];

const missing = needs.filter((n) => {
  try {
    accessSync(n.path, /\.(php|so)$/.test(n.path) ? constants.R_OK : constants.X_OK);
    return false;
  } catch {
    return true;
  }
});
if (missing.length) {
  const pkgs = [...new Set(missing.flatMap((m) => m.pkg.split(' ')))];
  process.stderr.write(
    `npm test needs ${missing.map((m) => `${m.what} (${m.path}) for ${m.for}`).join('; ')}. Install with: apt-get install -y ${pkgs.join(' ')}\n`,
  );
  process.exit(1);
}
