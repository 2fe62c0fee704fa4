/**
 * Polling endpoints, for receivers that cannot accept inbound requests: the
 * receiver pulls GET /api/poll/:id?after=CURSOR&limit=N and gets its events
 * in delivery order, each with the envelope and the signature headers a push
 * would carry. Moving the cursor past a delivery acknowledges it (succeeded);
 * one not moved past is returned again (at least once). Each poll also says
 * the endpoint is alive: it clears a failing spell (and reports the recovery).
 */
import * as endpointsSql from '../db/endpoints.js';
import * as pollingSql from '../db/polling.js';
import { retryConflicts } from '../db/conflicts.js';
import { withTransaction } from '../db/transaction.js';
import { emitOperational, endpointEvent } from '../delivery/operational.js';
import { erasureOf } from '../delivery/erasedPayload.js';
import { ed25519PrivateKey, signedHeaders } from '../delivery/sign.js';
import { ValidationError } from '../errors.js';
import type { ServiceContext } from './context.js';

export interface PolledEvent {
  /** The cursor that acknowledges this event and everything before it. */
  cursor: string;
  /** What a push would have carried: the webhook-* and X-Webhook-* signature headers, content type, user agent. */
  headers: Record<string, string>;
  /** The envelope, as the exact text that was signed. */
  body: string;
}

export interface PollPage {
  data: PolledEvent[];
  /** Poll with after= this next; the same as `after` when nothing new was there. */
  next_cursor: string;
  has_more: boolean;
}

export function pollOps(ctx: ServiceContext) {
  const { pool, t } = ctx;
  return {
    async pollEndpoint(id: number, after: number, limit: number): Promise<PollPage> {
      const ep = await ctx.mustGetEndpoint(id);
      if (ep.type !== 'polling')
        throw new ValidationError(
          `endpoint ${id} is not a polling endpoint (type ${ep.type}): its events are pushed to its URL`,
          'id',
        );
      if (!ep.enabled)
        throw new ValidationError(`endpoint ${id} is disabled; its events wait until it is enabled again`, 'id');
      const notices = await retryConflicts(() =>
        withTransaction(pool, async (conn) => {
          await pollingSql.acknowledgeUpTo(conn, t, id, after);
          await pollingSql.notePolled(conn, t, id);
          const recovered = await endpointsSql.claimRecoveryReports(conn, t, [id]);
          await endpointsSql.markHealthy(conn, t, [id]);
          return emitOperational(
            conn,
            t,
            recovered.map((e) => endpointEvent('webhook.endpoint_recovered', e)),
          );
        }),
      );
      if (notices.length) {
        ctx.deps.notify?.(notices);
        ctx.nudge();
      }
      const rows = await pollingSql.deliveriesAfter(pool, t, id, after, limit + 1);
      const page = rows.slice(0, limit);
      const now = Math.floor(Date.now() / 1000);
      const secrets =
        ep.previousSecret && ep.previousSecretExpiresAt && ep.previousSecretExpiresAt > new Date()
          ? [ep.secret, ep.previousSecret]
          : [ep.secret];
      const ed25519 = ep.signing === 'ed25519' && ep.signingKey ? ed25519PrivateKey(ep.signingKey) : null;
      return {
        // An erased event's marker is not an event: its cursor still moves on.
        data: page
          .filter((d) => erasureOf(d.body) === null)
          .map((d) => ({
            cursor: String(d.id),
            headers: signedHeaders({
              eventId: d.eventId,
              eventType: d.eventType,
              body: Buffer.from(d.body),
              timestampSeconds: now,
              secrets,
              userAgent: ctx.deps.userAgent ?? 'lms-webhooks-sidecar',
              ed25519,
            }),
            body: d.body,
          })),
        next_cursor: String(page.at(-1)?.id ?? after),
        has_more: rows.length > limit,
      };
    },

    /** The endpoint page's figures: when it was last polled and how far behind it is. */
    async pollStatus(id: number): Promise<{ lastPolledAt: Date | null; waiting: number; oldestWaiting: Date | null }> {
      const ep = await ctx.mustGetEndpoint(id);
      const { waiting, oldest } = await pollingSql.pollBacklog(pool, t, id);
      return { lastPolledAt: ep.lastPolledAt, waiting, oldestWaiting: oldest };
    },
  };
}
