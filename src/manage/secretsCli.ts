/**
 * `npm run secrets -- status | rotate`: secrets at rest from the command line,
 * with the sidecar's own configuration.
 *
 * - status: how many stored secrets each key sealed, and whether the keys
 *   given open them all.
 * - rotate: seals every stored secret with SECRETS_KEY, opening what was
 *   sealed before with SECRETS_KEY_PREVIOUS (or with the key WP_CONFIG's salts
 *   give, when moving off it). One endpoint's row at a time, each written
 *   only if unchanged since read: stopping it midway loses nothing, and
 *   running it again finishes the job. Sidecars started with both keys keep
 *   delivering throughout.
 */
import { loadConfig } from '../config.js';
import { runCommand, withMigratedDatabase } from '../cli.js';
import { ConfigError } from '../errors.js';
import { createSecretBox } from '../secrets.js';
import { sealSecrets, secretsReport } from './secretOps.js';
import { sitesWithTables } from '../db/network.js';

const USAGE = 'usage: npm run secrets -- status | rotate';
const out = (line: string) => process.stdout.write(line + '\n');

async function main(command: string | undefined): Promise<number> {
  if (!['status', 'rotate'].includes(command ?? '')) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const config = loadConfig();
  const { current, previous, missing } = config.secrets;
  if (!current) throw new ConfigError(missing?.variable ?? 'SECRETS_KEY', missing?.message ?? 'SECRETS_KEY is not set');
  const box = createSecretBox(current, previous);
  return withMigratedDatabase(config, async (pool, main) => {
    out(`current key ${current.id} (${current.source})`);
    for (const k of previous) out(`previous key ${k.id} (${k.source}): opens only`);
    // A network: every site that has our tables, each named; one site served alone: its tables, unnamed.
    const sites = config.network
      ? (await sitesWithTables(pool, config.tablePrefix)).map((s) => ({ name: `site ${s.blogId}: `, t: s.tables }))
      : [{ name: '', t: main }];
    let code = 0;
    for (const { name, t } of sites) {
      if (command === 'status') {
        const r = await secretsReport(pool, t, box);
        for (const [id, n] of Object.entries(r.byKey))
          out(`${name}${String(n).padStart(6)} ${id === 'plain' ? 'not sealed yet' : `sealed with key ${id}`}`);
        for (const [id, n] of Object.entries(r.unopenable))
          out(`${name}problem: ${n} sealed with key ${id} cannot be opened with the keys given`);
        if (Object.keys(r.unopenable).length) code = 1;
        continue;
      }
      const r = await sealSecrets(pool, t, box);
      out(`${name}sealed ${r.sealed} plain and re-sealed ${r.resealed} secrets with key ${current.id}`);
      if (r.changedMeanwhile > 0) {
        out(`${name}${r.changedMeanwhile} endpoints changed while this ran: run it again to finish`);
        code = 1;
      }
    }
    return code;
  });
}

runCommand('Secrets', () => main(process.argv[2]));
