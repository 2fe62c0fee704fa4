/**
 * One HTTP attempt with got: keep-alive agents, a hard timeout, no redirects,
 * no retries (the database schedule owns retries), and the response body
 * read only up to a cap so a receiver streaming gigabytes cannot grow memory.
 * Never throws: every outcome is a SendResult.
 */
import http from 'node:http';
import https from 'node:https';
import got, { type RequestError } from 'got';
import type { EndpointTls, ErrorClass } from '../types.js';
import { HttpProxyAgent, HttpsProxyAgent } from 'hpagent';
import { checkLiteralHost, checkResolvedHost, createSafeLookup } from './targets.js';
import { NO_PROXY_SETTINGS, proxyFor, shownProxy, type ProxySettings } from './proxy.js';

export interface SendRequest {
  url: string;
  /** POST unless a transformation chose PUT. */
  method?: 'POST' | 'PUT';
  headers: Record<string, string>;
  body: Buffer;
  timeoutMs: number;
  /** Bytes of response body to keep; reading stops (and the socket is dropped) past READ_CAP_BYTES. */
  keepBodyBytes: number;
  /** Mutual TLS: the client certificate and key to present, and a CA to check the receiver by. */
  tls?: EndpointTls | null;
}

export interface SendResult {
  ok: boolean;
  statusCode: number | null;
  headers: Record<string, string> | null;
  body: string | null;
  durationMs: number;
  errorClass: ErrorClass | null;
  errorMessage: string | null;
}

export interface Sender {
  send(req: SendRequest): Promise<SendResult>;
  close(): void;
}

/** Past this many response bytes we stop reading: nothing beyond an excerpt is stored. */
export const READ_CAP_BYTES = 64 * 1024;
const MAX_HEADER_VALUE = 1000;

export function createSender(opts: {
  allowPrivateTargets: boolean;
  maxSockets?: number;
  /** HTTPS_PROXY / HTTP_PROXY / NO_PROXY (none by default). */
  proxy?: ProxySettings;
}): Sender {
  const proxy = opts.proxy ?? NO_PROXY_SETTINGS;
  const anyProxy = proxy.http !== null || proxy.https !== null;
  const agentOptions = { keepAlive: true, maxSockets: opts.maxSockets ?? 256, maxFreeSockets: 64, timeout: 60_000 };
  const agent = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };
  const dnsLookup = createSafeLookup(opts.allowPrivateTargets);
  // One got instance with every fixed option merged once: got's per-request
  // option merging was ~8 % of the sidecar's CPU in a drain profile.
  const fixed = {
    retry: { limit: 0 },
    followRedirect: false,
    throwHttpErrors: false,
    decompress: true,
    http2: false,
  } as const;
  const client = got.extend({ ...fixed, agent, dnsLookup: dnsLookup as never });
  // Through a proxy: hpagent tunnels with CONNECT and keeps the tunnels alive.
  // The target is resolved and checked here first (the proxy resolves it again
  // for itself); the proxy's own address is the operator's and is not checked.
  const proxied = new Map<string, { client: typeof client; agents: http.Agent[] }>();
  const viaProxy = (url: string) => {
    let p = proxied.get(url);
    if (!p) {
      const agents = {
        http: new HttpProxyAgent({ ...agentOptions, proxy: url }),
        https: new HttpsProxyAgent({ ...agentOptions, proxy: url }),
      };
      p = { client: got.extend({ ...fixed, agent: agents }), agents: [agents.http, agents.https] };
      proxied.set(url, p);
    }
    return p.client;
  };
  const literalChecked = new Map<string, string | null>();
  /** The blocked-target message for a URL, or null; cached per URL (a literal IP cannot change). */
  const literalBlock = (url: string): string | null => {
    let v = literalChecked.get(url);
    if (v === undefined) {
      try {
        checkLiteralHost(new URL(url), opts.allowPrivateTargets);
        v = null;
      } catch (err) {
        v = (err as Error).message;
      }
      if (literalChecked.size > 10_000) literalChecked.clear();
      literalChecked.set(url, v);
    }
    return v;
  };

  async function send(req: SendRequest): Promise<SendResult> {
    const started = performance.now();
    const elapsed = () => performance.now() - started;
    const blocked = literalBlock(req.url);
    if (blocked) return failure(elapsed(), 'blocked_target', blocked);
    // Parsed only when a proxy is set: the direct path (every delivery, without one) needs no URL object.
    const target = anyProxy ? new URL(req.url) : null;
    const proxyUrl = target ? proxyFor(target, proxy) : null;
    if (target && proxyUrl && !opts.allowPrivateTargets) {
      try {
        await checkResolvedHost(target.hostname);
      } catch (err) {
        const { errorClass, message } = classify(err as Error);
        return failure(elapsed(), errorClass, `${message} (checked before asking the proxy ${shownProxy(proxyUrl)})`);
      }
    }
    const via = proxyUrl ? viaProxy(proxyUrl) : client;
    return new Promise<SendResult>((resolve) => {
      let settled = false;
      let statusCode: number | null = null;
      let headers: Record<string, string> | null = null;
      const chunks: Buffer[] = [];
      let size = 0;
      const finish = (r: SendResult) => {
        if (settled) return;
        settled = true;
        resolve(r);
      };
      const withResponse = (): SendResult => {
        const body = Buffer.concat(chunks).subarray(0, req.keepBodyBytes).toString('utf8');
        const ok = statusCode !== null && statusCode >= 200 && statusCode < 300;
        return {
          ok,
          statusCode,
          headers,
          body,
          durationMs: elapsed(),
          errorClass: ok ? null : 'http_status',
          errorMessage: ok ? null : describeStatus(statusCode!),
        };
      };

      const stream = via.stream(req.url, {
        method: req.method ?? 'POST',
        body: req.body,
        headers: req.headers,
        timeout: { request: req.timeoutMs },
        // The keep-alive agents pool connections by these too, so each certificate gets its own.
        ...(req.tls
          ? {
              https: {
                ...(req.tls.client_cert && req.tls.client_key
                  ? { certificate: req.tls.client_cert, key: req.tls.client_key }
                  : {}),
                ...(req.tls.ca ? { certificateAuthority: req.tls.ca } : {}),
              },
            }
          : {}),
      });
      stream.on('response', (res: http.IncomingMessage) => {
        statusCode = res.statusCode ?? null;
        headers = pickHeaders(res.headers);
      });
      stream.on('data', (chunk: Buffer) => {
        if (size < READ_CAP_BYTES) chunks.push(chunk);
        size += chunk.length;
        if (size >= READ_CAP_BYTES) {
          // Enough for the excerpt; dropping the socket is cheaper than draining an endless body.
          finish(withResponse());
          stream.destroy();
        }
      });
      stream.on('end', () => finish(withResponse()));
      stream.on('error', (err: RequestError) => {
        // A status already received is the outcome, even if the body then broke off.
        if (statusCode !== null) return finish(withResponse());
        const { errorClass, message } =
          req.url.startsWith('https:') && err.timings?.secureConnect !== undefined && isReset(err)
            ? refusedAfterHandshake(err, Boolean(req.tls?.client_cert))
            : classify(err);
        finish(failure(elapsed(), errorClass, proxyUrl ? throughProxy(message, proxyUrl) : message));
      });
    });
  }

  return {
    send,
    close() {
      agent.http.destroy();
      agent.https.destroy();
      for (const p of proxied.values()) for (const a of p.agents) a.destroy();
    },
  };
}

/** What went wrong, saying the proxy was in the way (hpagent reports a refused CONNECT as "Bad response: 403"). */
function throughProxy(message: string, proxyUrl: string): string {
  const refused = /\bBad response: (\d+)$/.exec(message);
  if (refused)
    return `the proxy ${shownProxy(proxyUrl)} refused to connect (HTTP ${refused[1]} to CONNECT${refused[1] === '407' ? ': it wants credentials, given as http://user:password@host:port in the proxy variable' : ''})`;
  return `${message} (through the proxy ${shownProxy(proxyUrl)})`;
}

/** A failed outcome with no response (the request was not made, or no status came back). */
export function failure(durationMs: number, errorClass: ErrorClass, message: string): SendResult {
  return { ok: false, statusCode: null, headers: null, body: null, durationMs, errorClass, errorMessage: message };
}

function describeStatus(code: number): string {
  if (code >= 300 && code < 400) return `HTTP ${code}: redirects are not followed; register the final URL`;
  return `HTTP ${code}`;
}

function pickHeaders(h: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k] = (Array.isArray(v) ? v.join(', ') : v).slice(0, MAX_HEADER_VALUE);
  }
  return out;
}

const isReset = (err: RequestError) => err.code === 'ECONNRESET' || /socket hang up/.test(err.message);

/**
 * The receiver hung up right after the TLS handshake, before any answer. A
 * receiver that checks client certificates does exactly this when it refuses
 * one (TLS 1.3 checks it after the handshake; its alert is often lost to the
 * reset), so that is what the message says, and what to do.
 */
function refusedAfterHandshake(err: RequestError, presented: boolean): { errorClass: ErrorClass; message: string } {
  return {
    errorClass: 'tls',
    message: presented
      ? `TLS: the receiver refused the client certificate (it closed the connection right after the handshake without answering: does it trust the certificate's issuer?) (${err.message})`
      : `TLS: the receiver closed the connection right after the handshake without answering: it may require a client certificate; set the endpoint's client certificate and key (tls) (${err.message})`,
  };
}

/** What an operator does about a TLS failure, by OpenSSL's alert or Node's verification code. */
const TLS_ADVICE: [RegExp, string][] = [
  [
    /CERTIFICATE_REQUIRED|ALERT_HANDSHAKE_FAILURE/,
    "the receiver asks for a client certificate and none was accepted: set the endpoint's client certificate and key (tls)",
  ],
  [
    /ALERT_UNKNOWN_CA|ALERT_BAD_CERTIFICATE|ALERT_CERTIFICATE_UNKNOWN|ALERT_ACCESS_DENIED/,
    'the receiver refused the client certificate: it does not trust its issuer, or does not accept this certificate',
  ],
  [/ALERT_CERTIFICATE_EXPIRED/, 'the receiver says the client certificate has expired: renew it'],
  [
    /SELF_SIGNED|UNABLE_TO_VERIFY_LEAF|UNABLE_TO_GET_ISSUER/,
    "the receiver's certificate is not signed by a CA the sidecar trusts: set the endpoint's CA (tls.ca) to its issuer's certificate",
  ],
  [/CERT_HAS_EXPIRED/, "the receiver's certificate has expired"],
  [/ALTNAME_INVALID|HOSTNAME_MISMATCH/, "the receiver's certificate is not for this host name"],
];

function tlsMessage(code: string, message: string): string {
  const advice = TLS_ADVICE.find(([re]) => re.test(code))?.[1];
  return advice ? `TLS: ${advice} (${message})` : message;
}

/** Node refusing the request we built: our fault, never the receiver's. */
const OWN_FAULT_CODES = new Set([
  'ERR_INVALID_CHAR',
  'ERR_HTTP_INVALID_HEADER_VALUE',
  'ERR_INVALID_HTTP_TOKEN',
  'ERR_INVALID_ARG_TYPE',
  'ERR_INVALID_ARG_VALUE',
]);
const TLS_CODES = /^(ERR_TLS|ERR_SSL|CERT_|DEPTH_ZERO|UNABLE_TO_|SELF_SIGNED|ERR_OSSL|HOSTNAME_MISMATCH)/;

export function classify(err: RequestError | Error): { errorClass: ErrorClass; message: string } {
  const code = (err as { code?: string }).code ?? '';
  const cause = (err as { cause?: { code?: string } }).cause;
  const anyCode = code || cause?.code || '';
  if (OWN_FAULT_CODES.has(anyCode))
    return {
      errorClass: 'internal',
      message: `the sidecar could not build this request, so it was not sent: ${err.message}`,
    };
  if (anyCode === 'ERR_BLOCKED_TARGET' || err.name === 'BlockedTargetError')
    return { errorClass: 'blocked_target', message: err.message };
  if (err.name === 'TimeoutError' || anyCode === 'ETIMEDOUT')
    return { errorClass: 'timeout', message: `timed out: ${err.message}` };
  if (anyCode === 'ENOTFOUND' || anyCode === 'EAI_AGAIN' || anyCode === 'ENODATA')
    return { errorClass: 'dns', message: err.message };
  if (TLS_CODES.test(anyCode)) return { errorClass: 'tls', message: tlsMessage(anyCode, err.message) };
  if (/^E[A-Z]+$/.test(anyCode) || anyCode === 'ERR_STREAM_PREMATURE_CLOSE' || anyCode === 'HPE_INVALID_CONSTANT') {
    return { errorClass: 'connection', message: err.message };
  }
  return { errorClass: 'connection', message: `${anyCode ? anyCode + ': ' : ''}${err.message}` };
}
