import { expect } from 'chai';
import { createLogger } from '../src/log.js';

describe('structured logs', () => {
  it('writes one JSON object per line, honours the level, and never writes a secret', () => {
    const lines: string[] = [];
    const log = createLogger('info', (l) => lines.push(l)).child({ worker: 'w1' });
    log.debug('hidden');
    log.info('endpoint created', {
      endpoint_id: 3,
      secret: 'whsec_abc',
      headers: { Authorization: 'Bearer t0k3n', 'x-webhook-signature': 'abcd' },
      nested: { password: 'pw' },
    });
    expect(lines).to.have.length(1);
    const rec = JSON.parse(lines[0]!);
    expect(rec).to.include({
      level: 'info',
      msg: 'endpoint created',
      worker: 'w1',
      endpoint_id: 3,
      secret: '[redacted]',
    });
    expect(rec.headers.Authorization).to.equal('[redacted]');
    expect(rec.nested.password).to.equal('[redacted]');
    expect(lines[0]).to.not.match(/whsec_abc|t0k3n|"pw"/);
  });
});
