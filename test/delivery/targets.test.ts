import { expect } from 'chai';
import { blockedRange, validateEndpointUrl } from '../../src/delivery/targets.js';
import { ValidationError } from '../../src/errors.js';

describe('SSRF protection', () => {
  it('blocks non-public addresses in every notation, including IPv4-mapped IPv6', () => {
    for (const ip of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '240.0.0.1', '::1', '::', 'fc00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:169.254.169.254']) {
      expect(blockedRange(ip), ip).to.not.equal(null);
    }
    for (const ip of ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946', '::ffff:93.184.216.34']) {
      expect(blockedRange(ip), ip).to.equal(null);
    }
  });

  const policy = { allowPrivateTargets: false };
  const publicLookup = (async () => [{ address: '93.184.216.34', family: 4 }]) as never;
  const privateLookup = (async () => [{ address: '10.0.0.5', family: 4 }]) as never;

  async function refused(url: string, lookup = publicLookup): Promise<string> {
    try {
      await validateEndpointUrl(url, policy, lookup);
    } catch (err) {
      expect(err).to.be.instanceOf(ValidationError);
      return (err as Error).message;
    }
    throw new Error(`expected ${url} to be refused`);
  }

  it('refuses private targets written as decimal, hex or octal', async () => {
    for (const u of ['http://2130706433/', 'http://0x7f000001/', 'http://0177.0.0.1/', 'http://127.1/', 'http://[::ffff:7f00:1]/', 'http://169.254.169.254/latest/meta-data']) {
      expect(await refused(u)).to.match(/address/);
    }
  });

  it('refuses other schemes, credentials and names that resolve privately', async () => {
    expect(await refused('ftp://example.com/')).to.match(/http:\/\/ or https:\/\//);
    expect(await refused('https://user:pw@example.com/')).to.match(/user name or password/);
    expect(await refused('https://internal.example/', privateLookup)).to.match(/resolves to 10\.0\.0\.5/);
    expect(await refused('not a url')).to.match(/not a valid absolute URL/);
  });

  it('accepts public URLs, and private ones when ALLOW_PRIVATE_TARGETS is set', async () => {
    expect(await validateEndpointUrl('https://hooks.example.com/lms#frag', policy, publicLookup)).to.equal('https://hooks.example.com/lms');
    expect(await validateEndpointUrl('http://127.0.0.1:9/x', { allowPrivateTargets: true })).to.equal('http://127.0.0.1:9/x');
  });
});
