/**
 * SSRF protection for endpoint URLs. Checked when a URL is saved and again on
 * every connection, on the address actually dialled, so a name that resolved
 * to a public address at save time and to 169.254.169.254 later (DNS
 * rebinding) is still refused. ALLOW_PRIVATE_TARGETS lifts it for development.
 */
import dns from 'node:dns';
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import { ValidationError } from '../errors.js';

type IPv6 = ipaddr.IPv6;

const v4Of = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 255, lo >> 8, lo & 255]);

/** The IPv4 address an IPv6 address carries, and in which form, for the forms that carry one. */
function embeddedIPv4(a: IPv6): { form: string; v4: ipaddr.IPv4 } | null {
  const p = a.parts;
  const zero = (from: number, to: number) => p.slice(from, to).every((x) => x === 0);
  if (a.isIPv4MappedAddress()) return { form: 'IPv4-mapped', v4: a.toIPv4Address() };
  if (zero(0, 6)) return { form: 'IPv4-compatible', v4: v4Of(p[6]!, p[7]!) };
  if (p[0] === 0x2002) return { form: '6to4', v4: v4Of(p[1]!, p[2]!) };
  if (p[0] === 0x64 && p[1] === 0xff9b && zero(2, 6)) return { form: 'NAT64', v4: v4Of(p[6]!, p[7]!) };
  // Teredo: the client's address is stored inverted.
  if (p[0] === 0x2001 && p[1] === 0) return { form: 'Teredo', v4: v4Of(p[6]! ^ 0xffff, p[7]! ^ 0xffff) };
  return null;
}

/**
 * Why an address is not a public unicast one (its ipaddr.js range, or what an
 * IPv6 form carries), else null. IPv6 forms that carry an IPv4 address are
 * judged by it: IPv4-mapped and NAT64 (64:ff9b::/96, how IPv6-only hosts
 * reach IPv4) pass when it is public; the deprecated IPv4-compatible ::/96,
 * 6to4 and Teredo are tunnels, never a receiver's address, and are refused.
 */
export function blockedRange(ip: string): string | null {
  let addr: ipaddr.IPv4 | IPv6;
  try {
    // ipaddr.js reads "::127.0.0.1" as ::ffff:127.0.0.1; the WHATWG form (::7f00:1) is what is dialled.
    addr = ipaddr.parse(net.isIPv6(ip) ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip);
  } catch {
    return 'unparseable';
  }
  const range = addr.range();
  if (addr.kind() === 'ipv6' && range !== 'loopback' && range !== 'unspecified') {
    const e = embeddedIPv4(addr as IPv6);
    if (e) {
      const inner = e.v4.range();
      if (inner !== 'unicast') return `${inner} (${e.v4.toString()} in ${e.form} form)`;
      if (e.form === 'IPv4-mapped' || e.form === 'NAT64') return null;
      return `${e.form} (a transition form, deprecated or tunnelled)`;
    }
  }
  return range === 'unicast' ? null : range;
}

export class BlockedTargetError extends Error {
  override name = 'BlockedTargetError';
  readonly code = 'ERR_BLOCKED_TARGET';
}

type LookupCb = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/** A drop-in for dns.lookup that refuses private addresses; passed to got as dnsLookup. */
export function createSafeLookup(allowPrivate: boolean) {
  return function safeLookup(hostname: string, options: dns.LookupOptions | LookupCb, callback?: LookupCb): void {
    const cb = (typeof options === 'function' ? options : callback) as LookupCb;
    const opts: dns.LookupOptions = typeof options === 'function' ? {} : { ...options };
    dns.lookup(hostname, { ...opts, all: true }, (err, addresses) => {
      if (err) return cb(err, []);
      if (!allowPrivate) {
        const bad = addresses.find((a) => blockedRange(a.address) !== null);
        if (bad) {
          return cb(
            new BlockedTargetError(
              `${hostname} resolves to ${bad.address} (${blockedRange(bad.address)}), which is not a public address`,
            ),
            [],
          );
        }
      }
      if (opts.all) return cb(null, addresses);
      const first = addresses[0];
      if (!first) return cb(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
      cb(null, first.address, first.family);
    });
  };
}

/**
 * Resolves a host name and refuses it when any address is not public: what
 * the safe lookup does on a direct connection, done before a proxy is asked
 * to connect (the proxy would otherwise resolve and dial it unchecked).
 */
export function checkResolvedHost(hostname: string): Promise<void> {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host)) return Promise.resolve(); // literal addresses: checkLiteralHost
  return new Promise((resolve, reject) =>
    createSafeLookup(false)(host, { all: true }, (err) => (err ? reject(err) : resolve())),
  );
}

/** Checks a literal-IP host at send time: Node skips the lookup function for those. */
export function checkLiteralHost(url: URL, allowPrivate: boolean): void {
  if (allowPrivate) return;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host)) {
    const range = blockedRange(host);
    if (range) throw new BlockedTargetError(`${host} is a ${range} address, not a public one`);
  }
}

export interface UrlPolicy {
  allowPrivateTargets: boolean;
  httpsOnly?: boolean;
}

/** Validates an endpoint URL when it is saved; returns the normalised URL. */
export async function validateEndpointUrl(
  raw: string,
  policy: UrlPolicy,
  lookup = dns.promises.lookup,
): Promise<string> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ValidationError(`url "${raw.slice(0, 100)}" is not a valid absolute URL`, 'url');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new ValidationError('url must start with http:// or https://', 'url');
  if (policy.httpsOnly && url.protocol !== 'https:')
    throw new ValidationError('url must use https:// (the HTTPS-only setting is on)', 'url');
  if (url.username || url.password)
    throw new ValidationError(
      'url must not contain a user name or password; they would be stored and shown in logs',
      'url',
    );
  if (url.port === '0') throw new ValidationError('url has port 0, which no receiver can listen on', 'url');
  if (url.hash) url.hash = '';
  if (!policy.allowPrivateTargets) {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (net.isIP(host)) {
      const range = blockedRange(host);
      if (range)
        throw new ValidationError(
          `url points at ${host}, a ${range} address; only public addresses are allowed (ALLOW_PRIVATE_TARGETS is for development)`,
          'url',
        );
    } else {
      let addrs: dns.LookupAddress[] = [];
      try {
        addrs = await lookup(host, { all: true });
      } catch {
        // Unresolvable now is not proof of harm; every connection is checked again.
      }
      const bad = addrs.find((a) => blockedRange(a.address));
      if (bad)
        throw new ValidationError(
          `url host ${host} resolves to ${bad.address}, a ${blockedRange(bad.address)} address; only public addresses are allowed`,
          'url',
        );
    }
  }
  return url.toString();
}
