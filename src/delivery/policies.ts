/**
 * What the claim loop needs to know of endpoints beyond their rows: rate
 * limits and the longest timeout override (which sets the lease). Read from
 * the database like the settings, at most every REFRESH_MS, so a change made
 * on any replica is followed everywhere within seconds.
 */
import type { Pool } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import { rows } from '../db/sql.js';

const REFRESH_MS = 5000;

export interface EndpointPolicies {
  rateLimits: ReadonlyMap<number, number>;
  /** The longest per-endpoint timeout, or null when none is set. */
  maxTimeoutSeconds: number | null;
}

export interface PolicySource {
  current(): EndpointPolicies;
  refreshIfStale(): Promise<void>;
}

export function createPolicySource(pool: Pool, t: Tables): PolicySource {
  let value: EndpointPolicies = { rateLimits: new Map(), maxTimeoutSeconds: null };
  let loadedAt = 0;
  return {
    current: () => value,
    async refreshIfStale() {
      if (Date.now() - loadedAt < REFRESH_MS) return;
      const r = await rows(
        pool,
        `SELECT id, rate_limit_per_second, timeout_seconds FROM ${t.endpoints}
          WHERE rate_limit_per_second IS NOT NULL OR timeout_seconds IS NOT NULL`,
      );
      const rateLimits = new Map<number, number>();
      let maxTimeout: number | null = null;
      for (const x of r) {
        if (x.rate_limit_per_second !== null) rateLimits.set(Number(x.id), Number(x.rate_limit_per_second));
        if (x.timeout_seconds !== null) maxTimeout = Math.max(maxTimeout ?? 0, Number(x.timeout_seconds));
      }
      value = { rateLimits, maxTimeoutSeconds: maxTimeout };
      loadedAt = Date.now();
    },
  };
}
