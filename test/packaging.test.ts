/**
 * The files a user runs without us: docker-compose.yml is validated by the
 * real compose parser (Debian's docker-compose, no engine needed), and the
 * Dockerfile is checked for the properties the runtime relies on.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

function compose(...args: string[]): string {
  try {
    return execFileSync('docker-compose', ['-f', 'docker-compose.yml', ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  } catch (err) {
    const e = err as { code?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error('docker-compose is not installed (apt-get install docker-compose); .ci/run installs it');
    throw new Error(`docker-compose ${args.join(' ')} failed: ${e.stderr ?? String(err)}`);
  }
}

describe('packaging', () => {
  it('docker-compose.yml is valid, with and without the demo profile', () => {
    compose('config', '-q');
    expect(compose('--profile', 'demo', 'config', '--services').trim().split('\n').sort()).to.deep.equal(['demo-generator', 'demo-receiver', 'mysql', 'sidecar']);
    const full = compose('config');
    // Only the demo services carry the profile: a plain `up` starts MySQL and the sidecar.
    expect(full.match(/profiles:\s*\n\s*- demo/g)).to.have.length(2);
    expect(full).to.match(/image: mysql:8/);
    expect(full).to.match(/127\.0\.0\.1:8080:8080|published: 8080/);
    expect(full).to.match(/DATABASE_URL: mysql:\/\/lms:[^@]+@mysql:3306\/lms/);
    expect(full).to.match(/condition: service_healthy/);
  });

  it('the Dockerfile builds in one stage and runs as a non-root user with a health check', () => {
    const d = readFileSync('Dockerfile', 'utf8');
    expect(d.match(/^FROM /gm)).to.have.length(2);
    expect(d).to.match(/AS build/);
    expect(d).to.match(/^USER node$/m);
    expect(d).to.match(/^HEALTHCHECK .*\n?.*\/healthz/m);
    for (const dir of ['dist', 'sql', 'views', 'public', 'node_modules']) expect(d, dir).to.match(new RegExp(`^COPY .*\\b${dir}\\b`, 'm'));
    expect(d).to.match(/npm prune --omit=dev/);
  });
});
