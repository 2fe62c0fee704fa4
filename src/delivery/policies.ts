/**
 * What the claim loop needs to know of endpoints beyond their rows: the
 * longest timeout override (which sets the lease). Read from the database
 * like the settings, at most every REFRESH_MS, so a change made on any
 * replica is followed everywhere within seconds. Rate limits are not cached
 * here: the claim reads them in its own transaction (db/claims).
 */
import type { Pool } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import { rows } from '../db/sql.js';

const REFRESH_MS = 5000;

export interface EndpointPolicies {
  /** The longest per-endpoint timeout, or null when none is set. */
  maxTimeoutSeconds: number | null;
}

export interface PolicySource {
  current(): EndpointPolicies;
  refreshIfStale(): Promise<void>;
}

export function createPolicySource(pool: Pool, t: Tables): PolicySource {
  let value: EndpointPolicies = { maxTimeoutSeconds: null };
  let loadedAt = 0;
  return {
    current: () => value,
    async refreshIfStale() {
      if (Date.now() - loadedAt < REFRESH_MS) return;
      const r = await rows(
        pool,
        `SELECT MAX(timeout_seconds) AS max_timeout FROM ${t.endpoints} WHERE timeout_seconds IS NOT NULL`,
      );
      const max: unknown = r[0]?.max_timeout;
      value = { maxTimeoutSeconds: max === null || max === undefined ? null : Number(max) };
      loadedAt = Date.now();
    },
  };
}
