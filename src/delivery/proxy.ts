/**
 * The egress proxy: which outbound requests go through HTTPS_PROXY /
 * HTTP_PROXY and which NO_PROXY sends direct, read as curl and most tools
 * read them. The tunnel itself is hpagent's (CONNECT, keep-alive); the SSRF
 * check runs on the sidecar's own resolution of the target before the proxy
 * is asked for anything (send.ts).
 */
import net from 'node:net';
import ipaddr from 'ipaddr.js';

export interface ProxySettings {
  /** Proxy for http:// targets, or null. */
  http: string | null;
  /** Proxy for https:// targets, or null. */
  https: string | null;
  /** NO_PROXY entries: `*`, host names and domains (`example.com`, `.example.com`, `*.example.com`), IPs and CIDRs, each with an optional `:port`. */
  noProxy: readonly string[];
}

export const NO_PROXY_SETTINGS: ProxySettings = Object.freeze({ http: null, https: null, noProxy: [] });

/** An entry's name and port: `host:port`, `[v6]:port`, a bare IPv6 address or CIDR (no port). */
function splitEntry(entry: string): { name: string; port: string | null } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { name: bracketed[1]!, port: bracketed[2] ?? null };
  if (entry.includes('/') || net.isIPv6(entry)) return { name: entry, port: null };
  const colon = entry.lastIndexOf(':');
  if (colon > 0 && /^\d+$/.test(entry.slice(colon + 1)))
    return { name: entry.slice(0, colon), port: entry.slice(colon + 1) };
  return { name: entry, port: null };
}

function bypassedBy(entry: string, host: string, port: string): boolean {
  if (entry === '*') return true;
  const { name, port: entryPort } = splitEntry(entry);
  if (entryPort !== null && entryPort !== port) return false;
  if (net.isIP(host)) {
    try {
      if (name.includes('/')) return ipaddr.parse(host).match(ipaddr.parseCIDR(name));
      return net.isIP(name) !== 0 && ipaddr.parse(name).toString() === ipaddr.parse(host).toString();
    } catch {
      return false;
    }
  }
  const domain = name.replace(/^\*?\./, '');
  return host === domain || host.endsWith('.' + domain);
}

/** The proxy URL a request to `url` goes through, or null for a direct connection. */
export function proxyFor(url: URL, p: ProxySettings): string | null {
  const proxy = url.protocol === 'https:' ? p.https : p.http;
  if (!proxy) return null;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return p.noProxy.some((e) => bypassedBy(e.trim().toLowerCase(), host, port)) ? null : proxy;
}

/** A proxy URL for messages: scheme, host and port, never its credentials. */
export function shownProxy(proxy: string): string {
  const u = new URL(proxy);
  return `${u.protocol}//${u.host}`;
}
