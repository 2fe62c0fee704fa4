/**
 * What database we are on, checked once at start. The claim depends on
 * SELECT … FOR UPDATE SKIP LOCKED taking row locks that other sessions skip;
 * TiDB accepts the syntax but takes no lock (its pessimistic mode ignores
 * SKIP LOCKED), so two replicas would claim the same rows: refused. A
 * read-only server (a replica a proxy sent us to) is refused too: the
 * sidecar writes on every tick. Galera is named in the log.
 */
import type { Pool } from 'mysql2/promise';
import type { Logger } from '../log.js';
import { StartError } from '../errors.js';
import { rows } from './sql.js';

export interface EngineInfo {
  version: string;
  galera: boolean;
}

/** Why the sidecar cannot run on this server, or null. Pure, so each rule has a test without the server. */
export function engineProblem(version: string, readOnly: boolean): string | null {
  if (/tidb/i.test(version)) {
    return `the database is TiDB (${version}): its SELECT … FOR UPDATE SKIP LOCKED takes no row lock, so two sidecar processes would claim and send the same deliveries. Use MySQL 8.0+ or MariaDB 10.6+`;
  }
  if (readOnly) {
    return `the database server answering the sidecar is read-only (@@read_only = 1, ${version}): a proxy (ProxySQL, MaxScale) or DNS sent it to a replica. Point DATABASE_URL at the primary, or route every statement of the sidecar's user there`;
  }
  return null;
}

export async function checkEngine(pool: Pool, log: Logger): Promise<EngineInfo> {
  const [v] = await rows(pool, 'SELECT VERSION() AS version, @@read_only AS ro');
  const version = String(v?.version ?? '');
  const problem = engineProblem(version, Number(v?.ro) === 1);
  if (problem) throw new StartError(problem);
  const wsrep = await rows(pool, "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_cluster_size')");
  const status = new Map(wsrep.map((x) => [String(x.Variable_name), String(x.Value)]));
  const galera = status.get('wsrep_ready') === 'ON';
  if (galera)
    log.info('database is a Galera cluster node', {
      version,
      cluster_size: Number(status.get('wsrep_cluster_size') ?? 0),
    });
  return { version, galera };
}
