import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { useTestDb } from './support/db.js';
import { SAMPLE_PAYLOADS } from '../src/catalog.js';
import { EVENT_CATALOG } from '../src/catalog.js';

const DEMO = fileURLToPath(new URL('../src/demo/main.js', import.meta.url));

function runDemo(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    let out = '';
    const p = spawn(process.execPath, [DEMO, '--once'], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (out += c.toString()));
    p.on('exit', (code) => resolve({ code, out }));
  });
}

describe('npm run demo', function () {
  this.timeout(60_000);
  const db = useTestDb('demo');

  it('has a sample payload for every catalog event', () => {
    // webhook.* are the sidecar's own events, not the LMS's.
    const catalog = Object.values(EVENT_CATALOG)
      .flat()
      .filter((t) => !t.startsWith('webhook.'))
      .sort();
    expect(Object.keys(SAMPLE_PAYLOADS).sort()).to.deep.equal(catalog);
  });

  it('delivers and verifies one event of each type, twice in a row, on a database it creates', async () => {
    const env = { DATABASE_URL: `${db.get().url}_fresh`, PORT: '0' };
    try {
      for (const run of [1, 2]) {
        const { code, out } = await runDemo(env);
        expect(code, out).to.equal(0);
        expect(out.match(/✔ verified/g), out).to.have.length(Object.keys(SAMPLE_PAYLOADS).length);
        expect(out).to.not.include('✘');
        expect(out).to.match(/Admin UI: http:\/\/127\.0\.0\.1:\d+\/admin/);
        // The generated admin password is printed on the first start only.
        expect(/Admin password \(generated/.test(out), `run ${run}`).to.equal(run === 1);
      }
    } finally {
      await db.get().pool.query(`DROP DATABASE IF EXISTS \`${db.get().name}_fresh\``);
    }
  });
});
