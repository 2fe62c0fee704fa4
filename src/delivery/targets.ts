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

/** The ipaddr.js range of an address when it is not public unicast, else null. */
export function blockedRange(ip: string): string | null {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.parse(ip);
  } catch {
    return 'unparseable';
  }
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
  const range = addr.range();
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
          return cb(new BlockedTargetError(`${hostname} resolves to ${bad.address} (${blockedRange(bad.address)}), which is not a public address`), []);
        }
      }
      if (opts.all) return cb(null, addresses);
      const first = addresses[0];
      if (!first) return cb(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
      cb(null, first.address, first.family);
    });
  };
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
export async function validateEndpointUrl(raw: string, policy: UrlPolicy, lookup = dns.promises.lookup): Promise<string> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ValidationError(`url "${raw.slice(0, 100)}" is not a valid absolute URL`, 'url');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ValidationError('url must start with http:// or https://', 'url');
  if (policy.httpsOnly && url.protocol !== 'https:') throw new ValidationError('url must use https:// (the HTTPS-only setting is on)', 'url');
  if (url.username || url.password) throw new ValidationError('url must not contain a user name or password; they would be stored and shown in logs', 'url');
  if (url.hash) url.hash = '';
  if (!policy.allowPrivateTargets) {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (net.isIP(host)) {
      const range = blockedRange(host);
      if (range) throw new ValidationError(`url points at ${host}, a ${range} address; only public addresses are allowed (ALLOW_PRIVATE_TARGETS is for development)`, 'url');
    } else {
      let addrs: dns.LookupAddress[] = [];
      try {
        addrs = await lookup(host, { all: true });
      } catch {
        // Unresolvable now is not proof of harm; every connection is checked again.
      }
      const bad = addrs.find((a) => blockedRange(a.address));
      if (bad) throw new ValidationError(`url host ${host} resolves to ${bad.address}, a ${blockedRange(bad.address)} address; only public addresses are allowed`, 'url');
    }
  }
  return url.toString();
}
