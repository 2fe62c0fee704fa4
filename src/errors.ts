/**
 * The few named errors the sidecar raises. Messages name what was wrong and,
 * where it helps, what to do; the original error always travels as `cause`.
 */

/** A bad environment variable or wp-config.php; stops the start. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly variable: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The database is in a state the sidecar must not run against; stops the start with one line. */
export class StartError extends Error {
  override name = 'StartError';
}

/** One thing wrong: the field's path, the message, and (from joi) the rule broken with its limit or value. */
export interface ValidationDetail {
  field: string;
  message: string;
  type?: string;
  context?: { limit?: unknown; value?: unknown; valids?: unknown[] };
}

/** Bad input from an API body, form or query string: answered with 400. */
export class ValidationError extends Error {
  override name = 'ValidationError';
  constructor(
    message: string,
    readonly field?: string,
    readonly details: ValidationDetail[] = field ? [{ field, message }] : [],
    /** needsConfirm: the input is valid but does something the operator must confirm (send confirm: true). */
    readonly flags: { needsConfirm?: boolean } = {},
  ) {
    super(message);
  }
}

/** The thing asked for does not exist: answered with 404. */
export class NotFoundError extends Error {
  override name = 'NotFoundError';
}

/** The database cannot be reached: pages and API answer 503 meanwhile. */
export class UnavailableError extends Error {
  override name = 'UnavailableError';
}

/** Turns anything thrown into an Error, so every catch can log `.message` and `.cause`. */
export function coerceError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === 'string' ? thrown : `Non-error thrown: ${safeString(thrown)}`, { cause: thrown });
}

function safeString(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_SERVER_SHUTDOWN',
  'ER_CON_COUNT_ERROR',
  'POOL_CLOSED',
  // 1047 "WSREP has not yet prepared node for application use": a Galera node
  // that is not Synced (cut off from the cluster, or still joining).
  'ER_UNKNOWN_COM_ERROR',
  // 1180 "… (provider status: Not connected to Primary Component)": a Galera
  // node briefly outside the cluster's quorum while a dead node is evicted.
  'ER_ERROR_DURING_COMMIT',
]);

/** True when an error means "the database is not answering" rather than "this query is wrong". */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; fatal?: boolean } | null;
  if (!e || typeof e !== 'object') return false;
  if (e.code && CONNECTION_CODES.has(e.code)) return true;
  return e.fatal === true;
}
