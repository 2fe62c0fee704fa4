/**
 * Secrets at rest over the endpoints table: the start's check that the key
 * given opens every stored secret, and the sealing of what is not sealed with
 * it yet (plain values from before secrets were sealed, values sealed with a
 * previous key). Each endpoint's row is written on its own, only if it still
 * holds what was read, so stopping midway loses nothing and running again
 * finishes the job: a rotation is safe to interrupt.
 */
import type { Queryable } from '../db/sql.js';
import type { Tables } from '../db/tables.js';
import { replaceSealed, storedSecrets } from '../db/endpoints.js';
import { ConfigError } from '../errors.js';
import { isSealed, sealedKeyId, SecretKeyError, type SecretBox } from '../secrets.js';

export interface SecretsReport {
  /** Values stored per key id that sealed them ("plain" for values not sealed yet). */
  byKey: Record<string, number>;
  /** Values the keys given cannot open, by key id. */
  unopenable: Record<string, number>;
}

type StoredRows = Awaited<ReturnType<typeof storedSecrets>>;

function reportOf(rows: StoredRows, box: SecretBox): SecretsReport {
  const report: SecretsReport = { byKey: {}, unopenable: {} };
  for (const row of rows)
    for (const v of Object.values(row.values)) {
      if (v === null) continue;
      const id = sealedKeyId(v) ?? 'plain';
      report.byKey[id] = (report.byKey[id] ?? 0) + 1;
      try {
        box.open(v);
      } catch (err) {
        if (!(err instanceof SecretKeyError)) throw err;
        report.unopenable[id] = (report.unopenable[id] ?? 0) + 1;
      }
    }
  return report;
}

/** How many stored secrets each key sealed, and which the keys given cannot open (npm run secrets -- status). */
export async function secretsReport(conn: Queryable, t: Tables, box: SecretBox): Promise<SecretsReport> {
  return reportOf(await storedSecrets(conn, t), box);
}

/**
 * Stops the start (one line naming the variable) when a stored secret does
 * not open with the keys given: better than signing with nothing, or failing
 * every delivery one by one.
 */
function requireAllOpen(report: SecretsReport, box: SecretBox, t: Tables): void {
  const bad = Object.entries(report.unopenable);
  if (bad.length === 0) return;
  const count = bad.reduce((n, [, c]) => n + c, 0);
  const ids = bad.map(([id]) => id).join(', ');
  const hint =
    box.current.source === 'WP_CONFIG salts'
      ? "the key in use is derived from WP_CONFIG's salts: were the WordPress salts changed since? Start with SECRETS_KEY_PREVIOUS set to the key they were sealed with, or restore the salts"
      : `start with the key they were sealed with in SECRETS_KEY (or in SECRETS_KEY_PREVIOUS, to re-seal them with the new one)`;
  throw new ConfigError(
    'SECRETS_KEY',
    `${count} endpoint secret${count === 1 ? '' : 's'} in ${t.endpoints.replace(/`/g, '')} cannot be opened with the key in use (key ${box.current.id} from ${box.current.source}; sealed with key ${ids}): ${hint}`,
  );
}

export interface SealResult {
  /** Plain values sealed. */
  sealed: number;
  /** Values sealed with a previous key, sealed again with the current one. */
  resealed: number;
  /** Rows changed by someone else between the read and the write: left for the next run. */
  changedMeanwhile: number;
}

/**
 * What the start and `npm run secrets -- rotate` do, on one read of the
 * stored secrets: refuse (ConfigError) when a value does not open with the
 * keys given, before anything is written; then seal with the current key
 * every value that is plain or sealed with a previous key.
 */
export async function sealSecrets(conn: Queryable, t: Tables, box: SecretBox): Promise<SealResult> {
  const rows = await storedSecrets(conn, t);
  requireAllOpen(reportOf(rows, box), box, t);
  const result: SealResult = { sealed: 0, resealed: 0, changedMeanwhile: 0 };
  for (const row of rows) {
    const now: Record<string, string | null> = {};
    let sealed = 0;
    let resealed = 0;
    for (const [column, v] of Object.entries(row.values)) {
      if (v === null || box.isCurrent(v)) continue;
      now[column] = box.seal(box.open(v));
      if (isSealed(v)) resealed++;
      else sealed++;
    }
    if (Object.keys(now).length === 0) continue;
    if (await replaceSealed(conn, t, row.id, row.values, now)) {
      result.sealed += sealed;
      result.resealed += resealed;
    } else result.changedMeanwhile++;
  }
  return result;
}
