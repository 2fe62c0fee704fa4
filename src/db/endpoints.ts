/**
 * {prefix}webhook_endpoints.
 */
import type { Queryable } from './sql.js';
import type { Tables } from './tables.js';
import {
  ENDPOINT_TYPES,
  type Endpoint,
  type EndpointAuth,
  type EndpointTls,
  type EndpointFilter,
  type EndpointOptions,
  type EndpointType,
} from '../types.js';
import { exec, parseJsonColumn, rows, toDate, type Row } from './sql.js';
import type { SecretBox } from '../secrets.js';

/** The columns stored sealed (secrets.ts): the values that would let anyone sign or authenticate as the site. */
export const SEALED_COLUMNS = ['secret', 'previous_secret', 'auth', 'signing_key', 'tls'] as const;

const COLUMNS = `id, type, templates, api_key_id, transformation, url, description, events, enabled, secret, previous_secret, previous_secret_expires_at,
  disabled_reason, disabled_at, failing_since, last_success_at, transformation_failures, transformation_retry_at, ordered, filter, headers, auth, rate_limit_per_second,
  timeout_seconds, retry_schedule_seconds, signing, signing_key, public_key, tls, last_polled_at, created_at, updated_at`;

/** A sealed column's value opened, NULL kept. */
function openColumn(box: SecretBox, v: unknown): string | null {
  return typeof v === 'string' ? box.open(v) : null;
}

/** An endpoints row's sealed columns, opened: for the endpoint read whole, and for the claim path. */
export function openedSecrets(
  x: Row,
  box: SecretBox,
): Pick<Endpoint, 'secret' | 'previousSecret' | 'auth' | 'signingKey' | 'tls'> {
  return {
    secret: box.open(String(x.secret)),
    previousSecret: openColumn(box, x.previous_secret),
    auth: parseJsonColumn<EndpointAuth | null>(openColumn(box, x.auth), null),
    signingKey: openColumn(box, x.signing_key),
    tls: parseJsonColumn<EndpointTls | null>(openColumn(box, x.tls), null),
  };
}

/** An endpoint without its secrets: what routing an event to endpoints needs (fan-out, operational events). */
export type EndpointRoute = Omit<Endpoint, 'secret' | 'previousSecret' | 'auth' | 'signingKey' | 'tls'>;
const ROUTE_COLUMNS = COLUMNS.split(',')
  .map((c) => c.trim())
  .filter((c) => !(SEALED_COLUMNS as readonly string[]).includes(c))
  .join(', ');

function map(x: Row, box: SecretBox): Endpoint {
  return { ...mapRoute(x), ...openedSecrets(x, box) };
}

function mapRoute(x: Row): EndpointRoute {
  return {
    id: Number(x.id),
    type:
      x.type === 'zapier' || (ENDPOINT_TYPES as readonly string[]).includes(String(x.type))
        ? (x.type as EndpointType)
        : 'webhook',
    apiKeyId: x.api_key_id === null ? null : Number(x.api_key_id),
    transformation: x.transformation === null ? null : String(x.transformation),
    templates: parseJsonColumn<Record<string, string> | null>(x.templates, null),
    url: String(x.url),
    description: String(x.description),
    events: parseJsonColumn<string[]>(x.events, []),
    enabled: Number(x.enabled) === 1,
    previousSecretExpiresAt: toDate(x.previous_secret_expires_at),
    disabledReason: x.disabled_reason === null ? null : String(x.disabled_reason),
    disabledAt: toDate(x.disabled_at),
    failingSince: toDate(x.failing_since),
    lastSuccessAt: toDate(x.last_success_at),
    transformationFailures: Number(x.transformation_failures),
    transformationRetryAt: toDate(x.transformation_retry_at),
    ordered: Number(x.ordered) === 1,
    filter: parseJsonColumn<EndpointFilter | null>(x.filter, null),
    headers: parseJsonColumn<Record<string, string> | null>(x.headers, null),
    rateLimitPerSecond: x.rate_limit_per_second === null ? null : Number(x.rate_limit_per_second),
    timeoutSeconds: x.timeout_seconds === null ? null : Number(x.timeout_seconds),
    retryScheduleSeconds: parseJsonColumn<number[] | null>(x.retry_schedule_seconds, null),
    signing: x.signing === 'ed25519' ? 'ed25519' : 'hmac',
    publicKey: x.public_key === null ? null : String(x.public_key),
    lastPolledAt: toDate(x.last_polled_at),
    createdAt: toDate(x.created_at)!,
    updatedAt: toDate(x.updated_at)!,
  };
}

export async function listEndpoints(conn: Queryable, t: Tables, box: SecretBox): Promise<Endpoint[]> {
  return (await rows(conn, `SELECT ${COLUMNS} FROM ${t.endpoints} ORDER BY id`)).map((x) => map(x, box));
}

export async function listEndpointRoutes(conn: Queryable, t: Tables): Promise<EndpointRoute[]> {
  return (await rows(conn, `SELECT ${ROUTE_COLUMNS} FROM ${t.endpoints} ORDER BY id`)).map(mapRoute);
}

export async function getEndpoint(conn: Queryable, t: Tables, box: SecretBox, id: number): Promise<Endpoint | null> {
  const [r] = await rows(conn, `SELECT ${COLUMNS} FROM ${t.endpoints} WHERE id = ?`, [id]);
  return r ? map(r, box) : null;
}

/** An endpoint's options as stored: the operator's, and the key pair signing made. */
export interface StoredOptions extends EndpointOptions {
  /** Set with signing: the Ed25519 key pair made for this endpoint (null when going back to hmac). */
  signingKey?: string | null;
  publicKey?: string | null;
}

export interface EndpointInsert extends StoredOptions {
  /** A REST hook's subscription: the key that made it. */
  apiKeyId?: number | null;
  url: string;
  description: string;
  events: string[];
  enabled: boolean;
  secret: string;
}

const json = (v: unknown) => (v === null ? null : JSON.stringify(v));
/** Column = value pairs for the options that are set, secrets sealed. */
function optionColumns(o: StoredOptions, box: SecretBox): [string, unknown][] {
  const sealed = (v: string | null) => (v === null ? null : box.seal(v));
  const cols: [string, unknown][] = [];
  const add = (c: string, v: unknown) => cols.push([c, v]);
  if (o.type !== undefined) add('type', o.type);
  if (o.templates !== undefined) add('templates', json(o.templates));
  if (o.transformation !== undefined) add('transformation', o.transformation);
  if (o.ordered !== undefined) add('ordered', o.ordered ? 1 : 0);
  if (o.filter !== undefined) add('filter', json(o.filter));
  if (o.headers !== undefined) add('headers', json(o.headers));
  if (o.auth !== undefined) add('auth', sealed(json(o.auth)));
  if (o.rateLimitPerSecond !== undefined) add('rate_limit_per_second', o.rateLimitPerSecond);
  if (o.timeoutSeconds !== undefined) add('timeout_seconds', o.timeoutSeconds);
  if (o.retryScheduleSeconds !== undefined) add('retry_schedule_seconds', json(o.retryScheduleSeconds));
  if (o.signing !== undefined) add('signing', o.signing);
  if (o.signingKey !== undefined) add('signing_key', sealed(o.signingKey));
  if (o.tls !== undefined) add('tls', sealed(json(o.tls)));
  if (o.publicKey !== undefined) add('public_key', o.publicKey);
  return cols;
}

export async function insertEndpoint(conn: Queryable, t: Tables, box: SecretBox, e: EndpointInsert): Promise<number> {
  const cols: [string, unknown][] = [
    ['url', e.url],
    ['description', e.description],
    ['events', JSON.stringify(e.events)],
    ['enabled', e.enabled ? 1 : 0],
    ['secret', box.seal(e.secret)],
    ...(e.apiKeyId ? ([['api_key_id', e.apiKeyId]] as [string, unknown][]) : []),
    ...optionColumns(e, box),
  ];
  const r = await exec(conn, `INSERT INTO ${t.endpoints} (${cols.map(([c]) => `\`${c}\``).join(', ')}) VALUES (?)`, [
    cols.map(([, v]) => v),
  ]);
  return r.insertId;
}

export interface EndpointPatch extends StoredOptions {
  url?: string;
  description?: string;
  events?: string[];
  enabled?: boolean;
  disabledReason?: string | null;
}

export async function updateEndpoint(
  conn: Queryable,
  t: Tables,
  box: SecretBox,
  id: number,
  p: EndpointPatch,
): Promise<void> {
  const sets: string[] = [];
  const params: unknown[] = [];
  const set = (clause: string, value: unknown) => {
    sets.push(clause);
    params.push(value);
  };
  if (p.url !== undefined) set('url = ?', p.url);
  if (p.description !== undefined) set('description = ?', p.description);
  if (p.events !== undefined) set('events = ?', JSON.stringify(p.events));
  for (const [c, v] of optionColumns(p, box)) set(`\`${c}\` = ?`, v);
  if (p.enabled === true) sets.push('enabled = 1, disabled_reason = NULL, disabled_at = NULL, failing_since = NULL');
  if (p.enabled === false)
    set('enabled = 0, disabled_reason = ?, disabled_at = NOW(3)', p.disabledReason ?? 'disabled by an operator');
  if (sets.length === 0) return;
  params.push(id);
  await exec(conn, `UPDATE ${t.endpoints} SET ${sets.join(', ')} WHERE id = ?`, params);
}

export async function rotateSecret(
  conn: Queryable,
  t: Tables,
  box: SecretBox,
  id: number,
  secret: string,
  graceHours: number,
): Promise<void> {
  await exec(
    conn,
    `UPDATE ${t.endpoints}
        SET previous_secret = IF(? > 0, secret, NULL),
            previous_secret_expires_at = IF(? > 0, DATE_ADD(NOW(3), INTERVAL ? SECOND), NULL),
            secret = ?
      WHERE id = ?`,
    [graceHours, graceHours, Math.round(graceHours * 3600), box.seal(secret), id],
  );
}

export async function deleteEndpointRow(conn: Queryable, t: Tables, id: number): Promise<boolean> {
  const r = await exec(conn, `DELETE FROM ${t.endpoints} WHERE id = ?`, [id]);
  return r.affectedRows > 0;
}

/** A success clears the failure clock; written at most every 10 s per endpoint to keep the row cool. */
export async function markHealthy(conn: Queryable, t: Tables, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await exec(
    conn,
    `UPDATE ${t.endpoints} SET failing_since = NULL, last_success_at = NOW(3)
      WHERE id IN (?) AND (failing_since IS NOT NULL OR last_success_at IS NULL OR last_success_at < NOW(3) - INTERVAL 10 SECOND)`,
    [ids],
  );
}

export async function markFailing(conn: Queryable, t: Tables, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await exec(conn, `UPDATE ${t.endpoints} SET failing_since = NOW(3) WHERE id IN (?) AND failing_since IS NULL`, [ids]);
}

/** Disables endpoints that have failed without a success for `hours`; returns their ids. */
export async function disableLongFailing(conn: Queryable, t: Tables, ids: number[], hours: number): Promise<number[]> {
  if (ids.length === 0) return [];
  const r = await rows(
    conn,
    `SELECT id FROM ${t.endpoints} WHERE id IN (?) AND enabled = 1 AND failing_since < NOW(3) - INTERVAL ? SECOND`,
    [ids, Math.round(hours * 3600)],
  );
  const due = r.map((x) => Number(x.id));
  if (due.length === 0) return [];
  await exec(
    conn,
    `UPDATE ${t.endpoints} SET enabled = 0, disabled_at = NOW(3),
            disabled_reason = CONCAT('failed without a success since ', DATE_FORMAT(failing_since, '%Y-%m-%d %H:%i UTC'), ' (auto-disable after ', ?, ' h)')
      WHERE id IN (?) AND enabled = 1`,
    [hours, due],
  );
  return due;
}

/** True when it was enabled and is disabled now. */
export async function disableEndpoint(conn: Queryable, t: Tables, id: number, reason: string): Promise<boolean> {
  const r = await exec(
    conn,
    `UPDATE ${t.endpoints} SET enabled = 0, disabled_at = NOW(3), disabled_reason = ? WHERE id = ? AND enabled = 1`,
    [reason.slice(0, 500), id],
  );
  return r.affectedRows === 1;
}

/**
 * Takes the ordering lock of these endpoints until the transaction ends, in
 * id order, and reads their flags under it. Every change to which delivery
 * heads an ordered key happens under it, so two replicas (or fan-out and a
 * completion) never both admit one. It is a write (a version bump in
 * line_locks), not SELECT … FOR UPDATE: on Galera row locks are per node,
 * while two writes to one row conflict across nodes and one is retried.
 */
export async function lockEndpoints(
  conn: Queryable,
  t: Tables,
  ids: readonly number[],
): Promise<Map<number, { enabled: boolean; ordered: boolean }>> {
  const out = new Map<number, { enabled: boolean; ordered: boolean }>();
  if (ids.length === 0) return out;
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  await exec(
    conn,
    `INSERT INTO ${t.lineLocks} (endpoint_id, version) VALUES ? ON DUPLICATE KEY UPDATE version = version + 1`,
    [sorted.map((id) => [id, 1])],
  );
  const r = await rows(conn, `SELECT id, enabled, ordered FROM ${t.endpoints} WHERE id IN (?)`, [sorted]);
  for (const x of r) out.set(Number(x.id), { enabled: Number(x.enabled) === 1, ordered: Number(x.ordered) === 1 });
  return out;
}

export interface EndpointNotice {
  id: number;
  url: string;
  description: string;
  failingSince: Date | null;
  disabledReason: string | null;
}

const noticeOf = (x: Row): EndpointNotice => ({
  id: Number(x.id),
  url: String(x.url),
  description: String(x.description),
  failingSince: toDate(x.failing_since),
  disabledReason: x.disabled_reason === null ? null : String(x.disabled_reason),
});

/**
 * Endpoints among `ids` that match `where`, each then changed by `set` under
 * `guard` one at a time: the UPDATE decides, so one process only reports
 * each (a failing spell opened or closed).
 */
async function claimReports(
  conn: Queryable,
  t: Tables,
  ids: number[],
  where: string,
  params: unknown[],
  set: string,
  guard: string,
): Promise<EndpointNotice[]> {
  if (ids.length === 0) return [];
  const r = await rows(
    conn,
    `SELECT id, url, description, failing_since, disabled_reason FROM ${t.endpoints} WHERE id IN (?) AND ${where}`,
    [ids, ...params],
  );
  const out: EndpointNotice[] = [];
  for (const x of r) {
    const u = await exec(conn, `UPDATE ${t.endpoints} SET ${set} WHERE id = ? AND ${guard}`, [x.id]);
    if (u.affectedRows === 1) out.push(noticeOf(x));
  }
  return out;
}

/** Failing for `?` seconds without a success, and that spell not reported yet. */
const FAILING_UNREPORTED = 'failing_notified_at IS NULL AND failing_since <= NOW(3) - INTERVAL ? SECOND';

/** Endpoints among `ids` failing for `afterMs` without a success and not yet reported: marked reported. */
export function claimFailingReports(
  conn: Queryable,
  t: Tables,
  ids: number[],
  afterMs: number,
): Promise<EndpointNotice[]> {
  return claimReports(
    conn,
    t,
    ids,
    FAILING_UNREPORTED,
    [Math.round(afterMs / 1000)],
    'failing_notified_at = NOW(3)',
    'failing_notified_at IS NULL',
  );
}

/** Enabled endpoints failing for `afterMs` whose spell no failure has reported yet (at most 100): for the minute sweep. */
export async function unreportedFailing(conn: Queryable, t: Tables, afterMs: number): Promise<number[]> {
  const r = await rows(
    conn,
    `SELECT id FROM ${t.endpoints} WHERE enabled = 1 AND ${FAILING_UNREPORTED} ORDER BY id LIMIT 100`,
    [Math.round(afterMs / 1000)],
  );
  return r.map((x) => Number(x.id));
}

/** Endpoints among `ids` whose failing was reported: the report is closed (call before markHealthy clears failing_since). */
export function claimRecoveryReports(conn: Queryable, t: Tables, ids: number[]): Promise<EndpointNotice[]> {
  return claimReports(
    conn,
    t,
    ids,
    'failing_notified_at IS NOT NULL',
    [],
    'failing_notified_at = NULL',
    'failing_notified_at IS NOT NULL',
  );
}

export async function endpointNotices(conn: Queryable, t: Tables, ids: number[]): Promise<EndpointNotice[]> {
  if (ids.length === 0) return [];
  return (
    await rows(
      conn,
      `SELECT id, url, description, failing_since, disabled_reason FROM ${t.endpoints} WHERE id IN (?)`,
      [ids],
    )
  ).map(noticeOf);
}

/** Takes this endpoint's mail slot for the hour: true when a mail may go now. */
export async function claimMailSlot(conn: Queryable, t: Tables, id: number): Promise<boolean> {
  const r = await exec(
    conn,
    `UPDATE ${t.endpoints} SET last_mailed_at = NOW(3) WHERE id = ? AND (last_mailed_at IS NULL OR last_mailed_at < NOW(3) - INTERVAL 1 HOUR)`,
    [id],
  );
  return r.affectedRows === 1;
}

/** Endpoints failing or disabled now (at most 5, the longest troubled first), for the banner on every admin page. */
export async function troubledEndpoints(
  conn: Queryable,
  t: Tables,
): Promise<{ id: number; name: string; state: 'failing' | 'disabled'; since: Date | null }[]> {
  const r = await rows(
    conn,
    `SELECT id, url, description, enabled, failing_since, disabled_at FROM ${t.endpoints}
      WHERE enabled = 0 OR failing_since IS NOT NULL ORDER BY COALESCE(disabled_at, failing_since) LIMIT 5`,
  );
  return r.map((x) => ({
    id: Number(x.id),
    name: String(x.description || x.url || `polling endpoint ${String(x.id)}`),
    state: Number(x.enabled) === 1 ? 'failing' : 'disabled',
    since: toDate(Number(x.enabled) === 1 ? x.failing_since : x.disabled_at),
  }));
}

/** The REST hook subscriptions a key made. */
export async function endpointIdsOfKey(conn: Queryable, t: Tables, keyId: number): Promise<number[]> {
  return (await rows(conn, `SELECT id FROM ${t.endpoints} WHERE api_key_id = ?`, [keyId])).map((x) => Number(x.id));
}

/** Every endpoint's sealed columns as stored, for the start's check and a key rotation. */
export async function storedSecrets(
  conn: Queryable,
  t: Tables,
): Promise<{ id: number; values: Record<(typeof SEALED_COLUMNS)[number], string | null> }[]> {
  const r = await rows(conn, `SELECT id, ${SEALED_COLUMNS.join(', ')} FROM ${t.endpoints} ORDER BY id`);
  return r.map((x) => ({
    id: Number(x.id),
    values: Object.fromEntries(SEALED_COLUMNS.map((c) => [c, x[c] === null ? null : String(x[c])])) as Record<
      (typeof SEALED_COLUMNS)[number],
      string | null
    >,
  }));
}

/**
 * Writes one endpoint's re-sealed values only where each column still holds
 * what was read (a rotation beside a running sidecar never overwrites a
 * secret changed meanwhile); true when the row was written.
 */
export async function replaceSealed(
  conn: Queryable,
  t: Tables,
  id: number,
  was: Record<string, string | null>,
  now: Record<string, string | null>,
): Promise<boolean> {
  const cols = Object.keys(now);
  if (cols.length === 0) return false;
  const r = await exec(
    conn,
    `UPDATE ${t.endpoints} SET ${cols.map((c) => `\`${c}\` = ?`).join(', ')}
      WHERE id = ? AND ${cols.map((c) => `\`${c}\` <=> ?`).join(' AND ')}`,
    [...cols.map((c) => now[c]), id, ...cols.map((c) => was[c])],
  );
  return r.affectedRows === 1;
}
