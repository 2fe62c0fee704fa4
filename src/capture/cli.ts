/**
 * `npm run capture -- status|install|remove`: Sikshya capture from the
 * command line, with the sidecar's own configuration (DATABASE_URL or
 * WP_CONFIG, TABLE_PREFIX). Prints one line per trigger and exits 1 with
 * one line saying what to do when something is wrong.
 */
import { loadConfig } from '../config.js';
import { runCommand, withMigratedDatabase } from '../cli.js';
import { captureStatus, installCapture, removeCapture, type CaptureStatus } from './install.js';

const USAGE = 'usage: npm run capture -- status | install | remove';

function print(s: CaptureStatus): void {
  if (!s.sikshya)
    process.stdout.write(`Sikshya's tables are not in this database (missing ${s.missingTables.join(', ')})\n`);
  for (const x of s.triggers) process.stdout.write(`${x.state.padEnd(9)} ${x.name} (${x.timing} on ${x.table})\n`);
  for (const p of s.problems) process.stdout.write(`problem: ${p}\n`);
}

async function main(command: string | undefined): Promise<number> {
  if (!['status', 'install', 'remove'].includes(command ?? '')) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  // Migrated first: the triggers write into our outbox.
  return withMigratedDatabase(loadConfig(), async (pool, t) => {
    if (command === 'remove') {
      process.stdout.write(`removed ${await removeCapture(pool, t)} Sikshya capture triggers; Sikshya is unchanged\n`);
      return 0;
    }
    const s = command === 'install' ? await installCapture(pool, t) : await captureStatus(pool, t);
    print(s);
    return s.problems.length ? 1 : 0;
  });
}

runCommand('Capture', () => main(process.argv[2]));
