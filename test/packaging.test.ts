/**
 * The files a user runs without us: docker-compose.yml is validated against
 * the Compose specification's JSON schema (no docker-compose binary needed),
 * and the Dockerfile is checked for the properties the runtime relies on.
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadComposeFile } from './support/compose.js';
import { START_FLAGS } from './support/startFlags.js';

describe('packaging', () => {
  it('docker-compose.yml follows the Compose specification, with and without the demo profile', () => {
    const c = loadComposeFile('docker-compose.yml');
    const all = Object.keys(c.services).sort();
    expect(all).to.deep.equal(['demo-generator', 'demo-receiver', 'mysql', 'sidecar']);
    // Only the demo services carry the profile: a plain `up` starts MySQL and the sidecar.
    expect(all.filter((n) => !c.services[n]!.profiles?.length)).to.deep.equal(['mysql', 'sidecar']);
    expect(all.filter((n) => c.services[n]!.profiles?.includes('demo'))).to.deep.equal([
      'demo-generator',
      'demo-receiver',
    ]);
    expect(c.services.mysql!.image).to.match(/^mysql:8/);
    expect(c.services.sidecar!.ports).to.deep.equal(['127.0.0.1:8080:8080']);
    expect(c.services.sidecar!.environment!.DATABASE_URL).to.match(/^mysql:\/\/lms:[^@]+@mysql:3306\/lms$/);
    expect(c.services.sidecar!.depends_on!.mysql!.condition).to.equal('service_healthy');
    const withPassword = loadComposeFile('docker-compose.yml', { MYSQL_PASSWORD: 's3cret' });
    expect(withPassword.services.sidecar!.environment!.DATABASE_URL).to.equal('mysql://lms:s3cret@mysql:3306/lms');
  });

  it('the compose check can fail: it names what breaks the specification', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'whtest-compose-'));
    const bad = path.join(dir, 'docker-compose.yml');
    writeFileSync(
      bad,
      readFileSync('docker-compose.yml', 'utf8')
        .replace('restart: unless-stopped', 'restart: unless-stopped\n    restrat: always')
        .replace('interval: 5s', 'interval: often'),
    );
    expect(() => loadComposeFile(bad)).to.throw(
      /\/services\/mysql\/healthcheck\/interval must match format "duration"[\s\S]*\/services\/sidecar must NOT have additional properties \{"additionalProperty":"restrat"\}/,
    );
  });

  it('the Dockerfile builds in one stage and runs as a non-root user with a health check', () => {
    const d = readFileSync('Dockerfile', 'utf8');
    expect(d.match(/^FROM /gm)).to.have.length(2);
    expect(d).to.match(/AS build/);
    expect(d).to.match(/^USER node$/m);
    expect(d).to.match(/^HEALTHCHECK .*\n?.*\/healthz/m);
    for (const dir of ['dist', 'sql', 'views', 'public', 'node_modules'])
      expect(d, dir).to.match(new RegExp(`^COPY .*\\b${dir}\\b`, 'm'));
    expect(d).to.match(/npm prune --omit=dev/);
  });

  it('the Dockerfile starts node with the same flags as npm start (the bench starts it that way too)', () => {
    const cmd = /^CMD \[(.*)\]$/m.exec(readFileSync('Dockerfile', 'utf8'))?.[1];
    const dockerFlags = (JSON.parse(`[${cmd}]`) as string[]).filter((a) => a.startsWith('--'));
    expect(START_FLAGS, 'npm start has flags').to.have.length.greaterThan(0);
    expect(dockerFlags).to.deep.equal(START_FLAGS);
  });

  it('test tiers: the unit tier opens no database, and every file the integration tier leaves out exists', () => {
    const tier = (name: string) => JSON.parse(readFileSync(name, 'utf8')) as { spec: string[]; ignore?: string[] };
    const source = (compiled: string) => compiled.replace(/^dist\//, '').replace(/\.js$/, '.ts');
    const unit = tier('.mocharc.unit.json').spec.map(source);
    expect(unit.length).to.be.greaterThan(5);
    for (const f of unit) {
      const text = readFileSync(f, 'utf8');
      expect(text, f).to.not.match(/from '\.\.?\/(?:\.\.\/)?support\/(?:db|sidecar|mariadb|galera|wordpress)\.js'/);
    }
    for (const f of tier('.mocharc.integration.json').ignore ?? [])
      expect(() => readFileSync(source(f)), f).to.not.throw();
  });
});
