/**
 * An endpoint's transformation from the admin page: save it (compiled
 * first), and "Try it" on an event type's newest real event or its
 * catalog example, showing the request that would be sent or the error.
 */
import * as endpointsSql from '../db/endpoints.js';
import * as eventsSql from '../db/events.js';
import { CATALOG } from '../catalog.js';
import { exampleEnvelope } from '../delivery/fanout.js';
import { checkTransformation, runTransformation } from '../delivery/transform.js';
import { ValidationError } from '../errors.js';
import { retryTransformationNow } from '../db/transformBackoff.js';
import type { ServiceContext } from './context.js';

export interface TransformTrial {
  eventType: string;
  /** Which event it ran on: the newest stored one of that type, or the catalog's example. */
  source: 'latest' | 'example';
  outcome: 'send' | 'cancel' | 'error';
  method?: string;
  url?: string;
  /** The body that would be sent, laid out when it is JSON. */
  body?: string;
  message?: string;
}

export function transformOps(ctx: ServiceContext) {
  const { pool, t, box } = ctx;
  return {
    /** Saves the code (null or empty removes it); code that does not compile is refused with the line. */
    async saveTransformation(id: number, code: string | null): Promise<void> {
      const before = await ctx.mustGetEndpoint(id);
      const value = code === null || code.trim() === '' ? null : code;
      if (value !== null) {
        const problem = await checkTransformation(value);
        if (problem) throw new ValidationError(`transformation: ${problem}`, 'transformation');
      }
      await endpointsSql.updateEndpoint(pool, t, box, id, { transformation: value });
      // What waited for the old code goes now, through the new.
      if (value !== before.transformation) await retryTransformationNow(pool, t, id);
    },

    async tryTransformation(id: number, code: string, eventType: string): Promise<TransformTrial> {
      const ep = await ctx.mustGetEndpoint(id);
      if (!CATALOG.some((c) => c.type === eventType))
        throw new ValidationError(`${eventType} is not a catalog event type`, 'event_type');
      const [latest] = await eventsSql.latestEventBodies(pool, t, eventType, 1);
      const envelope = latest ?? exampleEnvelope(eventType);
      const source = latest ? 'latest' : 'example';
      const r = await runTransformation(code, { method: 'POST', url: ep.url, eventType, body: envelope });
      // The operator's own lane never waits; a wait would only mean the pool said so.
      if (r.kind === 'waiting')
        return { eventType, source, outcome: 'error', message: 'the transformation pool is backing off this code' };
      if (r.kind === 'error') return { eventType, source, outcome: 'error', message: r.message };
      if (r.kind === 'cancel') return { eventType, source, outcome: 'cancel' };
      let body = r.body;
      try {
        body = JSON.stringify(JSON.parse(r.body), null, 2);
      } catch {
        // Not JSON: shown as it would be sent.
      }
      return { eventType, source, outcome: 'send', method: r.method, url: r.url, body };
    },
  };
}
