/**
 * The outbox as the sidecar sees it: every row, fanned out or rejected with
 * its reason.
 */
import express, { type Router } from 'express';
import { listOutbox } from '../../db/outbox.js';
import { query } from './helpers.js';
import type { AdminDeps } from './index.js';

export function eventsRouter(deps: AdminDeps): Router {
  const r = express.Router();
  r.get('/events', async (req, res) => {
    const before = Number(req.query.before);
    const rejectedOnly = req.query.rejected === '1';
    const list = await listOutbox(deps.pool, deps.tables, { beforeId: Number.isSafeInteger(before) && before > 0 ? before : undefined, rejectedOnly, limit: 50 });
    const last = list.at(-1);
    res.render('events', {
      title: 'Events',
      list,
      rejectedOnly,
      olderHref: list.length === 50 && last ? `/admin/events?${query({ rejected: rejectedOnly ? '1' : undefined, before: String(last.id) })}` : null,
    });
  });
  return r;
}
