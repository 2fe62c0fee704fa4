/**
 * Runs before mocha (`npm test`): makes the machine ready for the suite, or
 * says in its first lines exactly what is missing, instead of a
 * browser-launch error a minute into the run.
 *
 * - System packages (Chromium, PHP, WordPress, Galera, rsync, the MariaDB
 *   server binaries): as root on Debian or Ubuntu with apt-get, the missing
 *   ones are installed (one `apt-get update` when the package lists are
 *   missing or over a day old, then `apt-get install -y` of exactly what is
 *   missing), each command printed with how long it took. Elsewhere, or with
 *   NO_INSTALL=1, it stops naming each package and what needs it.
 * - MariaDB on 127.0.0.1:3306: started as `.ci/run` used to start it
 *   (start-stop-daemon with Debian's mariadbd) when it does not answer and
 *   this process may; otherwise one line saying how.
 *
 * `node dist/test/preflight.js unit` checks nothing (the unit tier needs only
 * Node); `integration` checks only the database.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import net from 'node:net';

type Tier = 'unit' | 'integration' | 'full';

interface Need {
  what: string;
  path: string;
  pkg: string;
  for: string;
}

const NEEDS: Need[] = [
  {
    what: 'Chromium',
    path: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    pkg: 'chromium',
    for: 'the admin UI tests in a real browser',
  },
  {
    what: 'mariadb-install-db',
    path: '/usr/bin/mariadb-install-db',
    pkg: 'mariadb-server',
    for: 'the database outage test, which runs a MariaDB of its own',
  },
  { what: 'mariadbd', path: '/usr/sbin/mariadbd', pkg: 'mariadb-server', for: 'the database outage test' },
  { what: 'php', path: '/usr/bin/php', pkg: 'php-cli', for: 'the WordPress tests, which install a real site' },
  { what: "PHP's mysqli", path: '', pkg: 'php-mysql', for: 'the WordPress tests' },
  {
    what: 'Galera',
    path: '/usr/lib/galera/libgalera_smm.so',
    pkg: 'galera-4',
    for: 'the cluster tests, which run a 3-node Galera cluster',
  },
  { what: 'rsync', path: '/usr/bin/rsync', pkg: 'rsync', for: 'Galera state transfer in the cluster tests' },
  {
    what: 'mysqldump',
    path: '/usr/bin/mysqldump',
    pkg: 'mariadb-client',
    for: 'the secrets-at-rest and erasure tests, which grep a real dump',
  },
  {
    what: 'openssl',
    path: '/usr/bin/openssl',
    pkg: 'openssl',
    for: 'the mutual TLS test, which makes a CA and certificates per run',
  },
  {
    what: 'WordPress',
    path: `${process.env.WP_ABSPATH ?? '/usr/share/wordpress/'}wp-settings.php`,
    pkg: 'wordpress',
    for: 'the WordPress tests',
  },
];

const say = (line: string) => process.stderr.write(`preflight: ${line}\n`);

function present(n: Need): boolean {
  if (n.pkg === 'php-mysql') {
    // An extension, not a file of its own: ask the php that is there.
    const r = spawnSync('php', ['-m'], { encoding: 'utf8' });
    return r.status === 0 && /^mysqli$/m.test(r.stdout);
  }
  try {
    accessSync(n.path, /\.(php|so)$/.test(n.path) ? constants.R_OK : constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Why this process cannot install packages itself, or null when it can. */
function cannotInstall(): string | null {
  if (process.env.NO_INSTALL === '1') return 'NO_INSTALL=1 is set';
  if (process.platform !== 'linux' || !existsSync('/etc/debian_version')) return 'this is not Debian or Ubuntu';
  if (process.getuid?.() !== 0) return 'this is not root';
  if (spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status !== 0) return 'apt-get is not available';
  return null;
}

/** Runs a command, printing it and how long it took; false when it failed. */
function run(cmd: string, args: string[]): boolean {
  const started = Date.now();
  say(`running: ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  // Its output only when it failed: apt's progress would bury the test run.
  if (r.status !== 0)
    process.stderr.write(`${String(r.stdout ?? '').slice(-8000)}${String(r.stderr ?? '').slice(-8000)}\n`);
  say(
    `${cmd} ${r.status === 0 ? 'done' : `failed (exit ${r.status ?? r.signal})`} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  return r.status === 0;
}

/** Package lists missing, or none refreshed within a day: apt-get install would not find or would fetch stale versions. */
function listsStale(): boolean {
  const dir = '/var/lib/apt/lists';
  try {
    const lists = readdirSync(dir).filter((f) => f.endsWith('_Packages') || /_Packages\.\w+$/.test(f));
    if (lists.length === 0) return true;
    const newest = Math.max(...lists.map((f) => statSync(`${dir}/${f}`).mtimeMs));
    return Date.now() - newest > 24 * 3600_000;
  } catch {
    return true;
  }
}

function ensurePackages(): boolean {
  const missing = NEEDS.filter((n) => !present(n));
  if (missing.length === 0) return true;
  const pkgs = [...new Set(missing.map((m) => m.pkg))];
  const why = cannotInstall();
  if (why === null) {
    say(`installing what the tests need: ${missing.map((m) => `${m.what} (${m.pkg})`).join(', ')}`);
    if (listsStale() && !run('apt-get', ['update', '-qq'])) return stop(missing, 'apt-get update failed');
    if (!run('apt-get', ['install', '-y', '-qq', ...pkgs])) return stop(missing, 'apt-get install failed');
    const still = NEEDS.filter((n) => !present(n));
    return still.length === 0 || stop(still, 'still missing after apt-get install');
  }
  return stop(missing, `not installed automatically because ${why}`);
}

function stop(missing: Need[], why: string): false {
  const pkgs = [...new Set(missing.map((m) => m.pkg))];
  for (const m of missing) say(`missing ${m.what}${m.path ? ` (${m.path})` : ''}, package ${m.pkg}, for ${m.for}`);
  say(`${why}. Install with: apt-get install -y ${pkgs.join(' ')}`);
  return false;
}

function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 2000 });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(false));
  });
}

const MARIADBD = '/usr/sbin/mariadbd';
const START = ['--start', '--oknodo', '--background', '--exec', MARIADBD];

async function ensureDatabase(): Promise<boolean> {
  // TEST_MYSQL_URL points at a server someone else runs (npm run test:mysql): only check it answers.
  const url = new URL(process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306');
  const host = url.hostname;
  const port = Number(url.port || 3306);
  if (await answers(host, port)) return true;
  const local = !process.env.TEST_MYSQL_URL;
  if (local && process.getuid?.() === 0 && existsSync(MARIADBD)) {
    say('MariaDB is not answering on 127.0.0.1:3306; starting it');
    if (run('start-stop-daemon', START)) {
      for (let i = 0; i < 60; i++) {
        if (await answers(host, port)) return true;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    say(
      'MariaDB did not come up on 127.0.0.1:3306 within 60 s; see its error log (/var/log/mysql/ or the data directory)',
    );
    return false;
  }
  say(
    local
      ? `MariaDB is not answering on 127.0.0.1:3306. Start it as root with: start-stop-daemon ${START.join(' ')} (or point TEST_MYSQL_URL at a server)`
      : `the server in TEST_MYSQL_URL (${host}:${port}) is not answering`,
  );
  return false;
}

/**
 * tsc never deletes: a test renamed or removed would still run from its old
 * compiled copy in dist/. Compiled files whose source is gone are removed.
 */
function removeStaleCompiled(dir = 'dist'): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) removeStaleCompiled(full);
    else if (/\.(js|d\.ts|js\.map)$/.test(entry.name)) {
      const source = full.replace(/^dist\//, '').replace(/\.(js|d\.ts|js\.map)$/, '.ts');
      if (!existsSync(source)) rmSync(full);
    }
  }
}

removeStaleCompiled();
const tier = (process.argv[2] ?? 'full') as Tier;
if (!['unit', 'integration', 'full'].includes(tier)) {
  say(`unknown tier "${tier}": use unit, integration or full`);
  process.exit(2);
}
// Packages first: on a machine without mariadb-server it is one of them.
const ready = (tier !== 'full' || ensurePackages()) && (tier === 'unit' || (await ensureDatabase()));
if (!ready) process.exit(1);
