/**
 * Admin login: the password (ADMIN_PASSWORD, or one generated at first start
 * and stored as an scrypt hash), database-backed sessions, CSRF tokens and a
 * login throttle. Session ids and tokens are 32 random bytes; only the
 * SHA-256 of a session id is stored, so a database dump opens no session.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Pool } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import * as adminSql from '../db/admin.js';
import { constantTimeEqual } from './auth.js';

const scryptAsync = promisify(scrypt) as (pw: string, salt: Buffer, keylen: number, opts: object) => Promise<Buffer>;
const SCRYPT = { N: 16384, r: 8, p: 1 };
/** Idle timeout; every request slides it. */
export const SESSION_TTL_SECONDS = 12 * 3600;

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, 64, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const key = await scryptAsync(password, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p) });
  return timingSafeEqual(key, expected);
}

export const randomToken = () => randomBytes(32).toString('base64url');
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export interface Session {
  idHash: string;
  csrfToken: string;
}

export interface AdminAuth {
  checkPassword(password: string): Promise<boolean>;
  createSession(): Promise<{ id: string; session: Session }>;
  loadSession(id: string | undefined): Promise<Session | null>;
  destroySession(session: Session): Promise<void>;
}

/**
 * With ADMIN_PASSWORD unset, the first process to start stores the hash of a
 * generated password and prints the password once; later starts print nothing.
 */
export async function ensureAdminPassword(pool: Pool, t: Tables, configured: string | undefined, print: (line: string) => void): Promise<void> {
  if (configured) return;
  if (await adminSql.getPasswordHash(pool, t)) return;
  const password = randomBytes(15).toString('base64url');
  if (await adminSql.insertPasswordHash(pool, t, await hashPassword(password))) {
    print(`Admin password (generated, shown once; set ADMIN_PASSWORD to choose your own): ${password}`);
  }
}

export function createAdminAuth(pool: Pool, t: Tables, configured: string | undefined): AdminAuth {
  const touched = new Map<string, number>();
  return {
    async checkPassword(password) {
      if (configured) return constantTimeEqual(password, configured);
      const stored = await adminSql.getPasswordHash(pool, t);
      return stored ? verifyPassword(password, stored) : false;
    },
    async createSession() {
      const id = randomToken();
      const session = { idHash: sha256(id), csrfToken: randomToken() };
      await adminSql.insertSession(pool, t, session.idHash, session.csrfToken, SESSION_TTL_SECONDS);
      // Opportunistic clean-up keeps the table small without a separate job.
      await adminSql.deleteExpiredSessions(pool, t);
      return { id, session };
    },
    async loadSession(id) {
      if (!id || id.length > 100) return null;
      const idHash = sha256(id);
      const row = await adminSql.getSession(pool, t, idHash);
      if (!row) return null;
      const now = Date.now();
      if (now - (touched.get(idHash) ?? row.lastSeenAt.getTime()) > 60_000) {
        touched.set(idHash, now);
        if (touched.size > 10_000) touched.clear();
        await adminSql.touchSession(pool, t, idHash, SESSION_TTL_SECONDS);
      }
      return { idHash, csrfToken: row.csrfToken };
    },
    async destroySession(session) {
      touched.delete(session.idHash);
      await adminSql.deleteSession(pool, t, session.idHash);
    },
  };
}

/**
 * Failed logins per client address: after MAX_FAILURES within WINDOW_MS the
 * address waits LOCK_MS. Per process: with N replicas an attacker gets N×.
 */
export class LoginThrottle {
  static readonly MAX_FAILURES = 5;
  static readonly WINDOW_MS = 15 * 60_000;
  static readonly LOCK_MS = 15 * 60_000;
  private readonly failures = new Map<string, { count: number; first: number; lockedUntil: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Seconds to wait, or 0 when a login may be tried. */
  retryAfterSeconds(key: string): number {
    const f = this.failures.get(key);
    if (!f) return 0;
    return Math.max(0, Math.ceil((f.lockedUntil - this.now()) / 1000));
  }

  fail(key: string): void {
    const now = this.now();
    let f = this.failures.get(key);
    if (!f || now - f.first > LoginThrottle.WINDOW_MS) f = { count: 0, first: now, lockedUntil: 0 };
    f.count++;
    if (f.count >= LoginThrottle.MAX_FAILURES) f.lockedUntil = now + LoginThrottle.LOCK_MS;
    this.failures.set(key, f);
    if (this.failures.size > 50_000) this.failures.clear();
  }

  succeed(key: string): void {
    this.failures.delete(key);
  }
}
