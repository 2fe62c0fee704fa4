/**
 * Table names derived from the validated prefix: the only identifiers that are
 * ever spliced into SQL. The prefix was checked against [A-Za-z0-9_] in config.
 */
/** The site of a WordPress network that events come from, as the envelope names it (network mode only). */
export interface EventSite {
  id: number;
  url: string;
}

export interface Tables {
  prefix: string;
  /**
   * In network mode, the site these tables belong to: every envelope written
   * into them says `"site":{"id":…,"url":…}`. Absent when one site is served.
   */
  site?: EventSite;
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
  /** Users are the network's in a multisite install: under its base prefix, not a site's. */
  wpUsers: string;
  wpUsermeta: string;
  wpOptions: string;
}

/** `usersPrefix`: where WordPress's users are (a network's base prefix for its sites; the site's own otherwise). */
export function tableNames(prefix: string, usersPrefix: string = prefix): Tables {
  for (const p of [prefix, usersPrefix])
    if (!/^[A-Za-z0-9_]{1,40}$/.test(p)) throw new Error(`unsafe table prefix ${JSON.stringify(p)}`);
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
    wpUsers: `\`${usersPrefix}users\``,
    wpUsermeta: `\`${usersPrefix}usermeta\``,
    wpOptions: `\`${prefix}options\``,
  };
}
