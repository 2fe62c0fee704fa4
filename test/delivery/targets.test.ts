import { expect } from 'chai';
import { blockedRange, checkLiteralHost, validateEndpointUrl } from '../../src/delivery/targets.js';
import { ValidationError } from '../../src/errors.js';

describe('SSRF protection', () => {
  it('blocks non-public addresses in every notation, including IPv4-mapped IPv6', () => {
    for (const ip of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '240.0.0.1',
      '::1',
      '::',
      'fc00::1',
      'fe80::1',
      '::ffff:127.0.0.1',
      '::ffff:169.254.169.254',
    ]) {
      expect(blockedRange(ip), ip).to.not.equal(null);
    }
    for (const ip of ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946', '::ffff:93.184.216.34']) {
      expect(blockedRange(ip), ip).to.equal(null);
    }
  });

  const policy = { allowPrivateTargets: false };
  const publicLookup = (() => Promise.resolve([{ address: '93.184.216.34', family: 4 }])) as never;
  const privateLookup = (() => Promise.resolve([{ address: '10.0.0.5', family: 4 }])) as never;

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
    for (const u of [
      'http://2130706433/',
      'http://0x7f000001/',
      'http://0177.0.0.1/',
      'http://127.1/',
      'http://[::ffff:7f00:1]/',
      'http://169.254.169.254/latest/meta-data',
    ]) {
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
    expect(await validateEndpointUrl('https://hooks.example.com/lms#frag', policy, publicLookup)).to.equal(
      'https://hooks.example.com/lms',
    );
    expect(await validateEndpointUrl('http://127.0.0.1:9/x', { allowPrivateTargets: true })).to.equal(
      'http://127.0.0.1:9/x',
    );
  });

  it('refuses IPv4-compatible ::/96 and judges mapped, 6to4, NAT64 and Teredo by the IPv4 address they carry', () => {
    const refused = [
      '::7f00:1',
      '::127.0.0.1',
      '::a9fe:a9fe',
      '::8.8.8.8',
      '2002:7f00:1::',
      '2002:a00:1::1',
      '2002:808:808::',
      '64:ff9b::7f00:1',
      '64:ff9b::a9fe:a9fe',
      '2001:0:4136:e378:8000:63bf:80ff:fffe',
      '2001:0:1:2:3:4:f7f7:f7f7',
    ];
    for (const ip of refused) expect(blockedRange(ip), ip).to.not.equal(null);
    expect(blockedRange('::7f00:1')).to.equal('loopback (127.0.0.1 in IPv4-compatible form)');
    expect(blockedRange('2002:7f00:1::')).to.equal('loopback (127.0.0.1 in 6to4 form)');
    expect(blockedRange('64:ff9b::a9fe:a9fe')).to.equal('linkLocal (169.254.169.254 in NAT64 form)');
    expect(blockedRange('2001:0:4136:e378:8000:63bf:80ff:fffe')).to.equal('loopback (127.0.0.1 in Teredo form)');
    // A public IPv4 reached through the well-known NAT64 prefix (IPv6-only hosts), or mapped, is a public receiver.
    for (const ip of ['64:ff9b::5db8:d822', '::ffff:93.184.216.34']) expect(blockedRange(ip), ip).to.equal(null);
  });

  it('refuses them when a URL is saved and when it is dialled', async () => {
    expect(await refused('http://[::127.0.0.1]/')).to.equal(
      'url points at ::7f00:1, a loopback (127.0.0.1 in IPv4-compatible form) address; only public addresses are allowed (ALLOW_PRIVATE_TARGETS is for development)',
    );
    expect(await refused('http://[64:ff9b::7f00:1]:8080/')).to.match(/in NAT64 form/);
    expect(
      await refused('https://v6.example/', (() => Promise.resolve([{ address: '::7f00:1', family: 6 }])) as never),
    ).to.match(/resolves to ::7f00:1, a loopback/);
    expect(() => checkLiteralHost(new URL('http://[::7f00:1]:9/x'), false)).to.throw(
      /::7f00:1 is a loopback \(127\.0\.0\.1 in IPv4-compatible form\) address/,
    );
  });

  it('takes an internationalised host in its punycode form, and refuses port 0', async () => {
    expect(await validateEndpointUrl('https://xn--bcher-kva.example/', policy, publicLookup)).to.equal(
      'https://xn--bcher-kva.example/',
    );
    expect(await refused('https://example.com:0/hook')).to.match(/port 0/);
  });
});
