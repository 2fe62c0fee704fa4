/**
 * API keys and the REST hooks Zapier makes with them. A key is 192 random
 * bits shown once; only its SHA-256 is stored. Scopes: `full` (what
 * API_TOKEN gives) and `hooks` (subscribe and unsubscribe its own REST
 * hooks, read samples: nothing else). A hook is an endpoint of type
 * `zapier` that remembers the key that made it; revoking the key pauses
 * its hooks.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as apiKeysSql from '../db/apiKeys.js';
import * as endpointsSql from '../db/endpoints.js';
import * as deliveryActionsSql from '../db/deliveryActions.js';
import * as eventsSql from '../db/events.js';
import { CATALOG } from '../catalog.js';
import { exampleEnvelope } from '../delivery/fanout.js';
import { generateSecret } from '../delivery/sign.js';
import { matches } from '../delivery/subscriptions.js';
import { validateEndpointUrl } from '../delivery/targets.js';
import { NotFoundError, ValidationError } from '../errors.js';
import type { ServiceContext } from './context.js';

export const API_KEY_SCOPES = ['full', 'hooks', 'network'] as const;
/**
 * full, hooks, or poll:<endpoint id> (reads that polling endpoint's events,
 * nothing else); network: full on every site of a WordPress network, made on
 * its main site by a super administrator.
 */
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number] | `poll:${number}`;
export const POLL_SCOPE_RE = /^poll:(\d{1,18})$/;
export type { ApiKey } from '../db/apiKeys.js';

/** Who is calling the API: the environment's API_TOKEN (id null) or a stored key. */
export interface ApiPrincipal {
  keyId: number | null;
  name: string;
  scope: string;
}

/** Whether a scope reaches every route: full, or network (full on every site). */
export const reachesEverything = (scope: string) => scope === 'full' || scope === 'network';

/** Every key begins so; a network's sites other than the main one add `s<blog id>_`. */
export const KEY_PREFIX = 'whk_';
/** The blog id a key names (`whk_s2_…`), or null for a main site's or a lone site's key. */
export function keySite(token: string): number | null {
  const m = /^whk_s(\d{1,18})_/.exec(token);
  return m ? Number(m[1]) : null;
}
/** Samples returned for Zapier's performList. */
const SAMPLES = 3;

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

export function apiKeyOps(ctx: ServiceContext) {
  const { pool, t, box } = ctx;
  const keyPrefix = ctx.deps.keyPrefix ?? KEY_PREFIX;
  const touched = new Map<number, number>();

  async function mustGetKey(id: number) {
    const k = await apiKeysSql.getApiKey(pool, t, id);
    if (!k) throw new NotFoundError(`API key ${id} does not exist`);
    return k;
  }

  /** A hook the caller may act on: its own, or any with a full key. Others are 404, so ids do not leak. */
  async function mustGetHook(principal: ApiPrincipal, id: number) {
    const ep = await endpointsSql.getEndpoint(pool, t, box, id);
    if (!ep || ep.type !== 'zapier' || (!reachesEverything(principal.scope) && ep.apiKeyId !== principal.keyId))
      throw new NotFoundError(`REST hook ${id} does not exist`);
    return ep;
  }

  return {
    listApiKeys: () => apiKeysSql.listApiKeys(pool, t),

    /** Makes a key; the returned `key` is the only time it is ever shown. */
    async createApiKey(name: string, scope: ApiKeyScope) {
      if (scope === 'network' && !ctx.deps.networkKeys)
        throw new ValidationError(
          "scope network (full on every site) is made on a WordPress network's main site, by a network administrator",
          'scope',
        );
      const poll = POLL_SCOPE_RE.exec(scope);
      if (poll) {
        const ep = await endpointsSql.getEndpoint(pool, t, box, Number(poll[1]));
        if (!ep || ep.type !== 'polling')
          throw new ValidationError(
            `scope ${scope} names no polling endpoint (endpoint ${poll[1]} ${ep ? `is of type ${ep.type}` : 'does not exist'})`,
            'scope',
          );
      }
      let random = randomBytes(24).toString('base64url');
      // A main site's key never looks like another site's (`whk_s2_…`): it would be looked up there.
      while (/^s\d/.test(random)) random = randomBytes(24).toString('base64url');
      const key = `${keyPrefix}${random}`;
      const id = await apiKeysSql.insertApiKey(pool, t, {
        name,
        scope,
        hash: sha256(key),
        hint: `${keyPrefix}…${key.slice(-4)}`,
      });
      return { key, apiKey: await mustGetKey(id) };
    },

    /** Revokes a key and disables the hooks it made (their events wait, paused). */
    async revokeApiKey(id: number): Promise<{ paused: number }> {
      const k = await mustGetKey(id);
      if (k.revokedAt) throw new ValidationError(`API key ${id} (${k.name}) is already revoked`, 'id');
      await apiKeysSql.revokeApiKey(pool, t, id);
      const hooks = await endpointsSql.endpointIdsOfKey(pool, t, id);
      for (const hook of hooks) {
        if (
          await endpointsSql.disableEndpoint(
            pool,
            t,
            hook,
            `the API key "${k.name}" that made this REST hook was revoked`,
          )
        )
          await deliveryActionsSql.pauseForEndpoint(pool, t, hook);
      }
      return { paused: hooks.length };
    },

    /** The key behind a bearer token, or null when there is none or it was revoked (`revoked` says which). */
    async authenticateKey(token: string): Promise<{ principal: ApiPrincipal | null; revoked: boolean }> {
      if (!token.startsWith(keyPrefix)) return { principal: null, revoked: false };
      const k = await apiKeysSql.findApiKeyByHash(pool, t, sha256(token));
      if (!k) return { principal: null, revoked: false };
      if (k.revokedAt) return { principal: null, revoked: true };
      if (Date.now() - (touched.get(k.id) ?? 0) > 60_000) {
        touched.set(k.id, Date.now());
        await apiKeysSql.touchApiKey(pool, t, k.id);
      }
      return { principal: { keyId: k.id, name: k.name, scope: k.scope }, revoked: false };
    },

    /** Zapier's subscribe: an endpoint of type zapier for the target URL and event, owned by the key. */
    async subscribeHook(principal: ApiPrincipal, input: { url: string; event: string }) {
      const url = await validateEndpointUrl(input.url, ctx.urlPolicy());
      const id = await endpointsSql.insertEndpoint(pool, t, box, {
        url,
        description: `Zapier REST hook (${principal.name})`,
        events: [input.event],
        enabled: true,
        secret: generateSecret(),
        type: 'zapier',
        apiKeyId: principal.keyId,
      });
      return { id, url, event: input.event };
    },

    /** Zapier's unsubscribe: the hook and its history go. */
    async unsubscribeHook(principal: ApiPrincipal, id: number): Promise<void> {
      await mustGetHook(principal, id);
      await deliveryActionsSql.deleteForEndpoint(pool, t, id);
      await endpointsSql.deleteEndpointRow(pool, t, id);
    },

    /**
     * Zapier's performList: the newest stored events of that type (or
     * matching that wildcard) as the envelope a hook receives, or the
     * catalog's examples when there are none yet.
     */
    async hookSamples(event: string): Promise<unknown[]> {
      const stored = await eventsSql.latestEventBodies(pool, t, event, SAMPLES);
      if (stored.length > 0) return stored.map((body) => JSON.parse(body) as unknown);
      return CATALOG.filter((c) => matches(event, c.type))
        .slice(0, SAMPLES)
        .map((c) => JSON.parse(exampleEnvelope(c.type)) as unknown);
    },
  };
}
