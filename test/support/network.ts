/**
 * A real WordPress multisite network for tests: Debian's WordPress installed
 * with wp_install(), made a network with install_network() and
 * populate_network() (what Network Setup runs), then sites and users made
 * with WordPress's own multisite functions (test/support/php/install-network.php).
 */
import path from 'node:path';
import { dbArgs, PHP_DIR, php } from './wordpress.js';

export interface NetworkDb {
  dbName: string;
  dbUser: string;
  dbPassword: string;
  /** As PHP's mysqli takes it: 127.0.0.1:3306. */
  dbHost: string;
  prefix: string;
}

export interface NetworkChanges {
  /** Sites to make, by path (`/site2/`): their blog ids come back by path. */
  sites?: { path: string; title: string }[];
  /** Users made with no role, then given `role` on each site (a path made here, or a blog id). */
  users?: {
    login: string;
    email: string;
    password: string;
    role: string;
    sites: (string | number)[];
    super?: boolean;
  }[];
  /** update_blog_status(): archived, deleted, spam… */
  flags?: { blog_id: number; flag: 'archived' | 'deleted' | 'spam'; value: '0' | '1' }[];
  /** Sites deleted with their tables (wpmu_delete_blog($id, true)). */
  delete?: number[];
}

async function run(phase: 'install' | 'sites', o: NetworkDb, extra: object): Promise<unknown> {
  const out = await php([path.join(PHP_DIR, 'install-network.php'), phase, JSON.stringify({ ...dbArgs(o), ...extra })]);
  return JSON.parse(out.slice(out.indexOf('{')));
}

/** The main site installed and made a network whose super administrator is `admin`. */
export async function installNetwork(
  o: NetworkDb,
  admin: { login: string; email: string; password: string },
): Promise<void> {
  await run('install', o, { admin });
}

/** Changes the network as its administrator would; returns the blog ids of the sites made and the users' ids. */
export async function changeNetwork(
  o: NetworkDb,
  changes: NetworkChanges,
): Promise<{ sites: Record<string, number>; users: Record<string, number> }> {
  const r = (await run('sites', o, changes)) as {
    sites: Record<string, number> | [];
    users: Record<string, number> | [];
  };
  // PHP's empty array comes back as [].
  return { sites: Array.isArray(r.sites) ? {} : r.sites, users: Array.isArray(r.users) ? {} : r.users };
}
