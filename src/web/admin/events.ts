/**
 * The outbox as the sidecar sees it: every row, fanned out or rejected with
 * its reason.
 */
import express, { type Router } from 'express';
import { PAYLOAD_SHOWN_CHARS } from '../../manage/reportOps.js';
import { NotFoundError } from '../../errors.js';
import { adminHref, idOf, query } from './pageHelpers.js';
import type { AdminDeps } from './deps.js';

export function eventsRouter(deps: AdminDeps): Router {
  const r = express.Router();
  r.get('/events', async (req, res) => {
    const before = Number(req.query.before);
    const rejectedOnly = req.query.rejected === '1';
    const list = await deps.service.listOutbox({
      beforeId: Number.isSafeInteger(before) && before > 0 ? before : undefined,
      rejectedOnly,
      limit: 50,
    });
    const last = list.at(-1);
    res.render('events', {
      title: 'Events',
      list,
      rejectedOnly,
      olderHref:
        list.length === 50 && last
          ? adminHref(res, `/events?${query({ rejected: rejectedOnly ? '1' : undefined, before: String(last.id) })}`)
          : null,
    });
  });
  // One row with its payload as the LMS wrote it: the only place a rejected row's content can be read.
  r.get('/events/:id', async (req, res) => {
    const row = await deps.service.getOutboxRow(idOf(req));
    if (!row)
      throw new NotFoundError(
        `outbox row ${req.params.id} does not exist (processed rows are removed after the retention period)`,
      );
    res.render('event', { title: `Outbox row ${row.id}`, row, payload: shownPayload(row.payload, row.payloadBytes) });
  });
  return r;
}

/** The payload laid out when it is JSON, else as written; cut past PAYLOAD_SHOWN_CHARS, and said so. */
function shownPayload(raw: string | null, bytes: number): { text: string; note: string | null } {
  if (raw === null) return { text: '', note: 'The row has no payload (NULL).' };
  const cut = raw.length >= PAYLOAD_SHOWN_CHARS && bytes > raw.length;
  if (!cut) {
    try {
      return { text: JSON.stringify(JSON.parse(raw), null, 2), note: null };
    } catch {
      return { text: raw, note: 'Not valid JSON: shown as written.' };
    }
  }
  return {
    text: raw,
    note: `First ${PAYLOAD_SHOWN_CHARS.toLocaleString('en')} characters of ${bytes.toLocaleString('en')} bytes, as written.`,
  };
}
