/**
 * Table names derived from the validated prefix: the only identifiers that are
 * ever spliced into SQL. The prefix was checked against [A-Za-z0-9_] in config.
 */
export interface Tables {
  prefix: string;
  outbox: string;
  events: string;
  endpoints: string;
  deliveries: string;
  attempts: string;
  rateLimits: string;
  locks: string;
  lineLocks: string;
  /** Payload search: one 8-byte term per searchable value of an event (db/events searchTerm). */
  eventTerms: string;
  /** Request headers that repeat on an endpoint's attempts, stored once (db/attempts). */
  headerSets: string;
  settings: string;
  migrations: string;
  admin: string;
  sessions: string;
  loginAttempts: string;
  apiKeys: string;
  /** Erasure requests: the record of who erased what and when (db/erasures). */
  erasures: string;
  /** WordPress's own tables, read only: users and roles for admin logins, options for the time zone. */
  wpUsers: string;
  wpUsermeta: string;
  wpOptions: string;
}

export function tableNames(prefix: string): Tables {
  if (!/^[A-Za-z0-9_]{1,40}$/.test(prefix)) throw new Error(`unsafe table prefix ${JSON.stringify(prefix)}`);
  const t = (name: string) => `\`${prefix}webhook_${name}\``;
  return {
    prefix,
    outbox: t('outbox'),
    events: t('events'),
    endpoints: t('endpoints'),
    deliveries: t('deliveries'),
    attempts: t('attempts'),
    rateLimits: t('rate_limits'),
    locks: t('locks'),
    lineLocks: t('line_locks'),
    eventTerms: t('event_terms'),
    headerSets: t('header_sets'),
    apiKeys: t('api_keys'),
    erasures: t('erasures'),
    settings: t('settings'),
    migrations: t('migrations'),
    admin: t('admin'),
    sessions: t('admin_sessions'),
    loginAttempts: t('login_attempts'),
    wpUsers: `\`${prefix}users\``,
    wpUsermeta: `\`${prefix}usermeta\``,
    wpOptions: `\`${prefix}options\``,
  };
}
