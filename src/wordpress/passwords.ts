/**
 * Checks a password against a hash WordPress stored in {prefix}users.user_pass,
 * as wp_check_password() (wp-includes/pluggable.php) does in WordPress 6.8+:
 *
 * - `$wp$2y$…` (6.8+): bcrypt over base64(HMAC-SHA384(password, key 'wp-sha384')),
 *   the pre-hash keeping the entropy of passwords longer than bcrypt's 72 bytes;
 * - `$P$…` (phpass "portable", every WordPress before 6.8);
 * - 32 hex characters: the MD5 of very old installs;
 * - anything else (`$2y$…` from plugins or imports): plain password_verify, i.e. bcrypt.
 *
 * Primitives come from node:crypto (MD5, HMAC-SHA384) and bcryptjs (bcrypt);
 * phpass's own loop and alphabet are the few lines below.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcryptjs';

/** wp_check_password refuses longer passwords outright. */
const MAX_PASSWORD_CHARS = 4096;
const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

const md5 = (...parts: (string | Buffer)[]) => {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest();
};

const sameText = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

export async function checkWordPressPassword(password: string, hash: string): Promise<boolean> {
  if (hash.length <= 32)
    return /^[0-9a-f]{32}$/i.test(hash) && sameText(hash.toLowerCase(), md5(password).toString('hex'));
  if (password.length > MAX_PASSWORD_CHARS) return false;
  if (hash.startsWith('$wp')) {
    const pre = createHmac('sha384', 'wp-sha384').update(password).digest('base64');
    return bcryptCompare(pre, hash.slice(3));
  }
  if (hash.startsWith('$P$') || hash.startsWith('$H$')) return sameText(phpassHash(password, hash) ?? '*', hash);
  return bcryptCompare(password, hash);
}

async function bcryptCompare(password: string, hash: string): Promise<boolean> {
  if (!/^\$2[abxy]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) return false;
  try {
    return await bcrypt.compare(password, hash);
  } catch {
    return false;
  }
}

/**
 * A hash of the same kind and cost as `like`, of a random password: checking
 * any password against it costs what checking against `like` costs. For a
 * site without users (or an unknown kind), phpass at WordPress's own cost.
 */
export async function decoyHashLike(like: string | null): Promise<string> {
  const secret = randomBytes(24).toString('base64');
  const bcryptCost = /^(?:\$wp)?\$2[abxy]\$(\d\d)\$/.exec(like ?? '')?.[1];
  if (bcryptCost !== undefined) {
    const h = await bcrypt.hash(secret, Number(bcryptCost));
    return like!.startsWith('$wp') ? `$wp${h}` : h;
  }
  if (like !== null && like.length <= 32) return randomBytes(16).toString('hex');
  // phpass: the same count character; the salt random; the checksum never matches.
  const count = like !== null && /^\$[PH]\$/.test(like) ? like[3]! : 'B';
  const salt = Array.from(randomBytes(8), (b) => ITOA64[b & 63]).join('');
  return `$P$${count}${salt}${'.'.repeat(22)}`;
}

/** phpass crypt_private(): the hash `setting` would give this password, or null for a malformed setting. */
export function phpassHash(password: string, setting: string): string | null {
  const countLog2 = ITOA64.indexOf(setting[3] ?? '');
  if (countLog2 < 7 || countLog2 > 30) return null;
  const salt = setting.slice(4, 12);
  if (salt.length !== 8) return null;
  let hash = md5(salt, password);
  for (let count = 1 << countLog2; count > 0; count--) hash = md5(hash, password);
  return setting.slice(0, 12) + encode64(hash, 16);
}

/** phpass's own base64 (little-endian groups, ITOA64 alphabet). */
function encode64(input: Buffer, count: number): string {
  let out = '';
  let i = 0;
  do {
    let value = input[i++]!;
    out += ITOA64[value & 0x3f];
    if (i < count) value |= input[i]! << 8;
    out += ITOA64[(value >> 6) & 0x3f];
    if (i++ >= count) break;
    if (i < count) value |= input[i]! << 16;
    out += ITOA64[(value >> 12) & 0x3f];
    if (i++ >= count) break;
    out += ITOA64[(value >> 18) & 0x3f];
  } while (i < count);
  return out;
}
