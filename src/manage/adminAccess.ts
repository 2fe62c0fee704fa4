/**
 * Admin login: the password (ADMIN_PASSWORD, or one generated at first start
 * and stored as an scrypt hash), database-backed sessions, CSRF tokens and a
 * login throttle. Session ids and tokens are 32 random bytes; only the
 * SHA-256 of a session id is stored, so a database dump opens no session.
 */
import { retryConflicts } from '../db/conflicts.js';
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Pool } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import * as adminSql from '../db/admin.js';
import { checkWordPressAdmin, wordpressLabel } from '../wordpress/admins.js';

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
  const key = await scryptAsync(password, Buffer.from(salt, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
  });
  return timingSafeEqual(key, expected);
}

export const randomToken = () => randomBytes(32).toString('base64url');
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Compares two secrets in constant time: both are hashed first, so lengths are equal and nothing leaks about them. */
export function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

export interface Session {
  idHash: string;
  csrfToken: string;
  /** Who signed in: "admin" (the sidecar's password) or a WordPress login. */
  userLabel: string;
}

export interface AdminAuth {
  /**
   * Who these credentials sign in, or null. An empty user name (or "admin")
   * with the sidecar's password is the sidecar's admin; otherwise a WordPress
   * administrator by user name or e-mail with their WordPress password.
   */
  checkLogin(userName: string, password: string): Promise<string | null>;
  createSession(userLabel: string): Promise<{ id: string; session: Session }>;
  loadSession(id: string | undefined): Promise<Session | null>;
  destroySession(session: Session): Promise<void>;
}

/**
 * With ADMIN_PASSWORD unset, the first process to start stores the hash of a
 * generated password and prints the password once; later starts print nothing.
 */
export async function ensureAdminPassword(
  pool: Pool,
  t: Tables,
  configured: string | undefined,
  print: (line: string) => void,
): Promise<void> {
  if (configured) return;
  if (await adminSql.getPasswordHash(pool, t)) return;
  const password = randomBytes(15).toString('base64url');
  const hash = await hashPassword(password);
  // Replicas starting at once on several cluster nodes conflict here; IGNORE keeps the first.
  if (await retryConflicts(() => adminSql.insertPasswordHash(pool, t, hash))) {
    print(`Admin password (generated, shown once; set ADMIN_PASSWORD to choose your own): ${password}`);
  }
}

/**
 * `wordpressLogin` decides which WordPress users may sign in: by default the
 * site's administrators; a network's sidecar passes its own (network/access.ts).
 */
export function createAdminAuth(
  pool: Pool,
  t: Tables,
  configured: string | undefined,
  wordpressLogin: (name: string, password: string) => Promise<string | null> = (name, password) =>
    checkWordPressAdmin(pool, t, name, password),
): AdminAuth {
  const touched = new Map<string, number>();
  const sidecarPassword = async (password: string) => {
    if (configured) return constantTimeEqual(password, configured);
    const stored = await adminSql.getPasswordHash(pool, t);
    return stored ? verifyPassword(password, stored) : false;
  };
  return {
    async checkLogin(userName, password) {
      const name = userName.trim();
      if ((name === '' || name === 'admin') && (await sidecarPassword(password))) return 'admin';
      if (name === '') return null;
      const login = await wordpressLogin(name, password);
      return login === null ? null : wordpressLabel(login);
    },
    async createSession(userLabel) {
      const id = randomToken();
      const session = { idHash: sha256(id), csrfToken: randomToken(), userLabel };
      await adminSql.insertSession(pool, t, session.idHash, session.csrfToken, userLabel, SESSION_TTL_SECONDS);
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
      return { idHash, csrfToken: row.csrfToken, userLabel: row.userLabel ?? 'admin' };
    },
    async destroySession(session) {
      touched.delete(session.idHash);
      await adminSql.deleteSession(pool, t, session.idHash);
    },
  };
}

/**
 * Login tries per client address, counted in the database before the
 * password is checked: MAX_TRIES within WINDOW_SECONDS, then the address
 * waits for the window to end. A success clears the count. Counting first,
 * in one atomic statement, is what makes 50 parallel wrong passwords get
 * MAX_TRIES checks and no more, on one replica or on many.
 */
export class LoginThrottle {
  static readonly MAX_TRIES = 5;
  static readonly WINDOW_SECONDS = 15 * 60;
  /** Addresses are stored hashed, like session ids. */
  private static hash = (key: string) => sha256(`login:${key}`);

  constructor(
    private readonly pool: Pool,
    private readonly t: Tables,
  ) {}

  /** Counts this try; returns seconds to wait (the try is refused), or 0 when the password may be checked. */
  async take(key: string): Promise<number> {
    const keyHash = LoginThrottle.hash(key);
    const { tries } = await adminSql.countLoginTry(this.pool, this.t, keyHash, LoginThrottle.WINDOW_SECONDS);
    if (tries <= LoginThrottle.MAX_TRIES) return 0;
    return Math.max(1, await adminSql.loginWindowLeftSeconds(this.pool, this.t, keyHash, LoginThrottle.WINDOW_SECONDS));
  }

  async succeed(key: string): Promise<void> {
    await adminSql.clearLoginTries(this.pool, this.t, LoginThrottle.hash(key));
    await adminSql.deleteOldLoginTries(this.pool, this.t, LoginThrottle.WINDOW_SECONDS);
  }
}
