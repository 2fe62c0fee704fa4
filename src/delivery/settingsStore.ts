/**
 * Settings live in the database so every replica follows them without a
 * restart. Each process keeps a copy, refreshed at most every REFRESH_MS and
 * at once after a change made through it.
 */
import type { Pool } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import { readSettings, writeSettings } from '../db/settings.js';
import { DEFAULT_SETTINGS, type Settings } from '../types.js';

const REFRESH_MS = 5000;

export interface SettingsStore {
  current(): Settings;
  refreshIfStale(): Promise<void>;
  update(patch: Partial<Settings>): Promise<Settings>;
}

export function createSettingsStore(pool: Pool, t: Tables): SettingsStore {
  let value: Settings = { ...DEFAULT_SETTINGS, retryScheduleSeconds: [...DEFAULT_SETTINGS.retryScheduleSeconds] };
  let loadedAt = 0;
  return {
    current: () => value,
    async refreshIfStale() {
      if (Date.now() - loadedAt < REFRESH_MS) return;
      value = await readSettings(pool, t);
      loadedAt = Date.now();
    },
    async update(patch) {
      await writeSettings(pool, t, patch);
      value = await readSettings(pool, t);
      loadedAt = Date.now();
      return value;
    },
  };
}
