/**
 * Erasure: erase the stored payloads of one person's events (a payload
 * condition as the delivery log's search box takes it), with a
 * confirmation step when it matches nothing or most of the log, and the
 * record of every erasure made (who, when, paths and counts; never values).
 */
import express, { type Response, type Router } from 'express';
import * as schemas from '../../manage/schemas.js';
import { check } from '../../manage/schemas.js';
import type { Service } from '../../manage/service.js';
import type { ErasureResult } from '../../manage/erasureOps.js';
import type { Session } from '../../manage/adminAccess.js';
import { ValidationError } from '../../errors.js';
import { asText } from '../../text.js';
import { plainErrors } from './messages.js';
import type { AdminDeps } from './deps.js';

const LABELS = { where: 'Condition', pending: 'Deliveries not sent yet' };

interface Typed {
  condition: string;
  pending: string;
}

/** `data.student_id=student_42`, one per line; a line not in that shape is passed on so the message names it. */
function conditionsOf(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/).map((l) => l.trim())) {
    if (!line) continue;
    const m = /^(data\.[^=\s]+)\s*=\s*(.+)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.trim();
    else out[`"${line.slice(0, 60)}"`] = 'x';
  }
  return out;
}

export function erasureRouter(deps: AdminDeps): Router {
  const { service } = deps;
  const r = express.Router();
  r.get('/erasure', async (_req, res) => {
    await render(service, res, 200);
  });

  r.post('/erasure', async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const typed: Typed = { condition: asText(body.condition), pending: asText(body.pending) };
    try {
      const input = check<{ where: Record<string, string>; pending: 'send' | 'cancel' }>(schemas.erasureRequest, {
        where: conditionsOf(typed.condition),
        pending: typed.pending || undefined,
      });
      const who = `admin page (${(res.locals.session as Session).userLabel})`;
      const result = await service.requestErasure({ ...input, confirm: body.confirm === 'on' }, who);
      res.locals.notice = { kind: 'success', text: outcome(result) };
      await render(service, res, result.erasure.status === 'done' ? 200 : 202);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      const errors = plainErrors(err, LABELS);
      await render(service, res, 400, {
        typed,
        errors: {
          ...(errors.where ? { condition: errors.where } : {}),
          ...(errors.pending ? { pending: errors.pending } : {}),
        },
        needsConfirm: err.flags.needsConfirm === true ? err.message : null,
      });
    }
  });
  return r;
}

const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

function outcome(r: ErasureResult): string {
  const c = r.erasure.counts;
  if (r.repeated) return `Already erased by erasure ${r.erasure.id}: nothing matches any more, nothing was changed.`;
  if (r.erasure.status === 'waiting')
    return `Erasure ${r.erasure.id} is waiting for ${count(r.waitingFor.deliveries, 'delivery', 'deliveries')} and ${count(r.waitingFor.outboxRows, 'outbox row', 'outbox rows')} to be sent first; it finishes on its own once they are.`;
  return `Erasure ${r.erasure.id} done: ${count(c.events, 'event', 'events')}, ${count(c.outbox, 'outbox row', 'outbox rows')}, ${count(c.attempts, 'attempt', 'attempts')} and ${count(c.event_terms, 'search term', 'search terms')} erased; ${count(c.deliveries_cancelled, 'delivery', 'deliveries')} cancelled.`;
}

async function render(
  service: Service,
  res: Response,
  status: number,
  more: { typed?: Typed; errors?: Record<string, string>; needsConfirm?: string | null } = {},
) {
  res.status(status).render('erasure', {
    title: 'Erasure',
    erasures: await service.listErasures(50),
    values: more.typed ?? { condition: '', pending: 'cancel' },
    errors: more.errors ?? {},
    needsConfirm: more.needsConfirm ?? null,
  });
}
