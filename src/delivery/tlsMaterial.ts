/**
 * Mutual TLS material of an endpoint: checked when it is saved (a PEM that
 * does not parse, a key that is not the certificate's, an expired
 * certificate), and described when read back (the certificate's subject,
 * issuer, expiry and fingerprint; never the key).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { EndpointTls } from '../types.js';

function certificate(pem: string): X509Certificate | null {
  try {
    return new X509Certificate(pem);
  } catch {
    return null;
  }
}

/** What is wrong with the material, naming the field (never its content), or null. */
export function tlsProblem(t: EndpointTls, now = new Date()): string | null {
  if (t.ca != null && !certificate(t.ca)) return 'ca is not a PEM certificate (-----BEGIN CERTIFICATE-----)';
  if (!t.client_cert || !t.client_key) return null;
  const cert = certificate(t.client_cert);
  if (!cert) return 'client_cert is not a PEM certificate (-----BEGIN CERTIFICATE-----)';
  let key;
  try {
    key = createPrivateKey(t.client_key);
  } catch (err) {
    const encrypted = /passphrase|encrypted/i.test((err as Error).message) || /ENCRYPTED/.test(t.client_key);
    return encrypted
      ? 'client_key is encrypted with a passphrase: store it without one (openssl pkey -in key.pem -out plain.pem)'
      : 'client_key is not a PEM private key (-----BEGIN PRIVATE KEY-----)';
  }
  if (!cert.checkPrivateKey(key)) return 'client_key is not the key of client_cert';
  if (new Date(cert.validTo) < now)
    return `client_cert expired on ${new Date(cert.validTo).toISOString().slice(0, 10)}`;
  return null;
}

const commonName = (dn: string) => /(?:^|\n)CN=([^\n]+)/.exec(dn)?.[1] ?? dn.replace(/\n/g, ', ');

/** "CN=client.example (issued by CN=Corp CA, expires 2027-12-06, SHA-256 AB:CD:…)". */
export function describeCertificate(pem: string): string {
  const c = certificate(pem);
  if (!c) return 'unreadable certificate';
  return `CN=${commonName(c.subject)} (issued by CN=${commonName(c.issuer)}, expires ${new Date(c.validTo).toISOString().slice(0, 10)}, SHA-256 ${c.fingerprint256.slice(0, 23)}…)`;
}
