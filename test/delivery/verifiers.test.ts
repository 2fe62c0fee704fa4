/**
 * The README's Ed25519 verifiers, run as written on a real delivery: Node,
 * PHP (php-cli, which npm test requires) and Python (where python3 has the
 * cryptography package). Each must accept the delivery and refuse it with
 * one byte of the body changed.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { runChild } from '../support/child.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { insertOutbox, useTestDb } from '../support/db.js';
import { useSidecar } from '../support/sidecar.js';
import { readmeBlock } from '../support/wordpress.js';
import { waitFor } from '../support/wait.js';
import type { Received } from '../support/receiver.js';

const hasPythonCryptography = spawnSync('python3', ['-c', 'import cryptography'], { stdio: 'ignore' }).status === 0;

describe('README Ed25519 verifiers on a real delivery', function () {
  this.timeout(30_000);
  const db = useTestDb('verifiers');
  const fx = useSidecar(db);
  let dir: string;
  let delivery: Received;
  let publicKey: string;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'verifiers-'));
    const receiver = await fx.receiver();
    const ep = await fx.endpoint(`${receiver.url}/ed`, ['order.created'], { signing: 'ed25519' });
    publicKey = (await fx.api('GET', `/api/endpoints/${ep.id}`)).body.public_key;
    await insertOutbox(db.get().pool, [
      { type: 'order.created', payload: { order_id: 'order_1', note: 'naïve – ünïcode' } },
    ]);
    delivery = await waitFor('delivered', () => receiver.received[0]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const tampered = () => Buffer.concat([delivery.raw.subarray(0, -1), Buffer.from(' ')]);
  const header = (name: string) => String(delivery.headers[name]);

  it('Node', async () => {
    const file = path.join(dir, 'verify.mjs');
    writeFileSync(
      file,
      `${readmeBlock('ed25519-node')}
import { readFileSync } from 'node:fs';
const [pk, body, headers] = process.argv.slice(2);
console.log(verifyEd25519(pk, readFileSync(body), JSON.parse(headers)) ? 'ok' : 'bad');`,
    );
    const run = async (raw: Buffer) => {
      writeFileSync(path.join(dir, 'body'), raw);
      return (
        await runChild(process.execPath, [file, publicKey, path.join(dir, 'body'), JSON.stringify(delivery.headers)])
      ).stdout.trim();
    };
    expect(await run(delivery.raw)).to.equal('ok');
    expect(await run(tampered())).to.equal('bad');
  });

  it('PHP', async () => {
    const file = path.join(dir, 'verify.php');
    writeFileSync(
      file,
      `<?php\n${readmeBlock('ed25519-php')}\necho lms_verify_ed25519($argv[1], file_get_contents($argv[2]), $argv[3], $argv[4], $argv[5]) ? 'ok' : 'bad';`,
    );
    const run = async (raw: Buffer) => {
      writeFileSync(path.join(dir, 'body'), raw);
      return (
        await runChild('php', [
          file,
          publicKey,
          path.join(dir, 'body'),
          header('webhook-id'),
          header('webhook-timestamp'),
          header('webhook-signature'),
        ])
      ).stdout.trim();
    };
    expect(await run(delivery.raw)).to.equal('ok');
    expect(await run(tampered())).to.equal('bad');
  });

  (hasPythonCryptography ? it : it.skip)('Python', async () => {
    const file = path.join(dir, 'verify.py');
    writeFileSync(
      file,
      `${readmeBlock('ed25519-python')}
import json, sys
print("ok" if verify_ed25519(sys.argv[1], open(sys.argv[2], "rb").read(), json.loads(sys.argv[3])) else "bad")`,
    );
    const run = async (raw: Buffer) => {
      writeFileSync(path.join(dir, 'body'), raw);
      return (
        await runChild('python3', [file, publicKey, path.join(dir, 'body'), JSON.stringify(delivery.headers)])
      ).stdout.trim();
    };
    expect(await run(delivery.raw)).to.equal('ok');
    expect(await run(tampered())).to.equal('bad');
  });
});
