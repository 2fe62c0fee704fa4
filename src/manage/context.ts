/**
 * What every group of operator actions shares: the database, the settings,
 * and the look-ups that turn a missing id into a 404 with its name.
 */
import type { Pool, PoolConnection } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import type { SecretBox } from '../secrets.js';
import * as endpointsSql from '../db/endpoints.js';
import * as deliveryLogSql from '../db/deliveryLog.js';
import { withTransaction } from '../db/transaction.js';
import * as ordering from '../db/ordering.js';
import { retryConflicts } from '../db/conflicts.js';
import type { OperationalNotice } from '../delivery/operational.js';
import type { SettingsStore } from '../delivery/settingsStore.js';
import { NotFoundError } from '../errors.js';
import type { Delivery, Endpoint } from '../types.js';

export interface ServiceDeps {
  pool: Pool;
  tables: Tables;
  /** Seals and opens the endpoints' secrets at rest. */
  secrets: SecretBox;
  settings: SettingsStore;
  allowPrivateTargets: boolean;
  /** Called after something became due, so this process picks it up now rather than at the next tick. */
  nudge?: () => void;
  /** Mails operational events the service emitted (an operator disabling an endpoint). */
  notify?: (notices: OperationalNotice[]) => void;
  /** The User-Agent deliveries carry; a poll's signature headers carry it too. */
  userAgent?: string;
  /** How new API keys begin: `whk_`, or `whk_s<blog id>_` for a network's other sites, so a key names its site. */
  keyPrefix?: string;
  /** The main site of a network: it may make `network` keys (full on every site). */
  networkKeys?: boolean;
}

export type ServiceContext = ReturnType<typeof createContext>;

export function createContext(deps: ServiceDeps) {
  const { pool, tables: t, secrets: box } = deps;

  async function mustGetEndpoint(id: number): Promise<Endpoint> {
    const e = await endpointsSql.getEndpoint(pool, t, box, id);
    if (!e) throw new NotFoundError(`endpoint ${id} does not exist`);
    return e;
  }

  /** Names, for each waiting delivery, the head of its key it waits for. */
  async function withWaitingFor<D extends Delivery>(list: D[]): Promise<D[]> {
    const waiting = list.filter((d) => d.status === 'waiting' && d.orderingKey !== null);
    if (waiting.length === 0) return list;
    const heads = await ordering.headsOf(
      pool,
      t,
      waiting.map((d) => ({ endpointId: d.endpointId, key: d.orderingKey! })),
    );
    return list.map((d) =>
      d.status === 'waiting' && d.orderingKey !== null
        ? { ...d, waitingFor: heads.get(ordering.lineId(d.endpointId, d.orderingKey)) ?? null }
        : d,
    );
  }

  async function mustGetDelivery(id: number) {
    const d = await deliveryLogSql.getDelivery(pool, t, id);
    if (!d) throw new NotFoundError(`delivery ${id} does not exist`);
    return (await withWaitingFor([d]))[0]!;
  }

  /** Runs fn in a transaction holding the endpoint's lock, then admits the head of `keys` when the endpoint is ordered. */
  async function inLine<T>(
    endpointId: number,
    keys: string[] | 'all',
    fn: (conn: PoolConnection) => Promise<T>,
  ): Promise<T> {
    return retryConflicts(() =>
      withTransaction(pool, async (conn) => {
        const ep = (await endpointsSql.lockEndpoints(conn, t, [endpointId])).get(endpointId);
        const out = await fn(conn);
        if (ep?.ordered) await ordering.admitHeads(conn, t, endpointId, ep.enabled, keys);
        return out;
      }),
    );
  }

  return {
    deps,
    pool,
    t,
    box,
    nudge: () => deps.nudge?.(),
    urlPolicy: () => ({ allowPrivateTargets: deps.allowPrivateTargets, httpsOnly: deps.settings.current().httpsOnly }),
    mustGetEndpoint,
    mustGetDelivery,
    withWaitingFor,
    inLine,
  };
}

export function disabledMessage(what: string, ep: Endpoint): string {
  return `${what} cannot be sent while endpoint ${ep.id} is disabled${ep.disabledReason ? ` (${ep.disabledReason})` : ''}; enable the endpoint and its paused deliveries are sent`;
}
