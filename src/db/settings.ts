/**
 * {prefix}webhook_settings: one row per setting under its wire name, value
 * as JSON text. Missing rows fall back to DEFAULT_SETTINGS.
 */
import type { Queryable } from './sql.js';
import type { Tables } from './tables.js';
import { DEFAULT_SETTINGS, settingsFromWire, settingsToWire, type Settings } from '../types.js';
import { rows } from './sql.js';

export async function readSettings(conn: Queryable, t: Tables): Promise<Settings> {
  const stored: Record<string, unknown> = {};
  for (const x of await rows(conn, `SELECT name, value FROM ${t.settings}`)) {
    try {
      stored[String(x.name)] = JSON.parse(String(x.value));
    } catch {
      // A hand-edited bad value keeps the default rather than stopping delivery.
    }
  }
  return { ...DEFAULT_SETTINGS, ...settingsFromWire(stored) };
}

export async function writeSettings(conn: Queryable, t: Tables, values: Partial<Settings>): Promise<void> {
  const entries = Object.entries(settingsToWire(values));
  if (entries.length === 0) return;
  await conn.query(`INSERT INTO ${t.settings} (name, value) VALUES ? ON DUPLICATE KEY UPDATE value = VALUES(value)`, [
    entries.map(([k, v]) => [k, JSON.stringify(v)]),
  ]);
}
