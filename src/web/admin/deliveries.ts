/**
 * The delivery log (filters, keyset pages), one delivery with its envelope
 * and every attempt, and replay.
 */
import express, { type Response, type Router } from 'express';
import * as schemas from '../../manage/schemas.js';
import { check } from '../../manage/schemas.js';
import type { Service } from '../../manage/service.js';
import { ValidationError } from '../../errors.js';
import { DELIVERY_STATUSES } from '../../types.js';
import { adminHref, endpointLabel, FILTER_LABELS, idOf, localToIso, query } from './pageHelpers.js';
import { plainErrors } from './messages.js';
import type { AdminDeps } from './deps.js';

/** The log counts matches up to this; past it, it says "more than". */
const COUNT_CAP = 10_000;

export function deliveriesRouter(deps: AdminDeps): Router {
  const { service } = deps;
  const r = express.Router();
  r.get('/deliveries', async (req, res) => {
    await renderLog(service, req.query as Record<string, string | undefined>, res);
  });

  r.get('/deliveries/:id', async (req, res) => {
    await renderDelivery(res, idOf(req), 200);
  });

  // Replay and Skip: on success back to the page with a notice; when nothing
  // was done, the delivery's own page says why.
  for (const [action, run, done] of [
    ['replay', (id: number) => service.replayDelivery(id), 'replayed'],
    ['skip', (id: number) => service.skipDelivery(id), 'skipped'],
  ] as const) {
    r.post(`/deliveries/:id/${action}`, async (req, res) => {
      const id = idOf(req);
      try {
        await run(id);
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        res.locals.notice = { kind: 'error', text: err.message };
        return renderDelivery(res, id, 400);
      }
      res.redirect(303, adminHref(res, `/deliveries/${id}?notice=${done}`));
    });
  }

  async function renderDelivery(res: Response, id: number, status: number) {
    const { delivery, attempts } = await service.getDelivery(id);
    const endpoint = await service.getEndpoint(delivery.endpointId).catch(() => null);
    res.status(status).render('delivery', {
      title: `Delivery ${delivery.id}`,
      delivery,
      attempts,
      endpoint,
      envelope: prettyJson(delivery.body),
    });
  }

  return r;
}

/** The log page: the filters as given, one page of matches with their count, or what was wrong with a filter. */
async function renderLog(service: Service, q: Record<string, string | undefined>, res: Response): Promise<void> {
  const filters = {
    endpoint_id: q.endpoint_id || undefined,
    status: q.status || undefined,
    event_type: q.event_type?.trim() || undefined,
    event_id: q.event_id?.trim() || undefined,
    since: q.since ? localToIso(q.since) : undefined,
    until: q.until ? localToIso(q.until) : undefined,
    before: q.before || undefined,
    limit: 50,
    ...payloadFilter(q),
  };
  const { list, total, bodies, error, errorFields } = await searchLog(service, filters);
  const endpoints = await service.listEndpoints();
  const keep = {
    endpoint_id: q.endpoint_id,
    status: q.status,
    event_type: q.event_type,
    event_id: q.event_id,
    since: q.since,
    until: q.until,
    payload: q.payload,
    ...Object.fromEntries(Object.entries(q).filter(([k]) => k.startsWith('data.'))),
  };
  const filtered = Object.values(keep).some((v) => v);
  const last = list.at(-1);
  res.status(error ? 400 : 200).render('deliveries', {
    title: 'Delivery log',
    list,
    bodies,
    total,
    filtered,
    endpoints,
    endpointNames: new Map(endpoints.map((e) => [e.id, endpointLabel(e)])),
    statuses: DELIVERY_STATUSES,
    filters: keep,
    error,
    errorFields,
    olderHref:
      list.length === 50 && last ? adminHref(res, `/deliveries?${query({ ...keep, before: String(last.id) })}`) : null,
    newestHref: q.before ? adminHref(res, `/deliveries?${query(keep)}`) : null,
  });
}

/** One page of the log for the page's filters, or the filters' errors by field. */
async function searchLog(service: Service, filters: Record<string, unknown>) {
  let error: string | null = null;
  let errorFields: string[] = [];
  let list: Awaited<ReturnType<Service['listDeliveries']>> = [];
  let total: { count: number; capped: boolean } | null = null;
  let bodies = new Map<number, string>();
  try {
    const f = check<schemas.DeliveryQuery>(schemas.deliveryQuery, filters, 'filters');
    const where = await service.planSearch({
      endpointId: f.endpoint_id,
      status: f.status,
      eventType: f.event_type,
      eventId: f.event_id,
      createdFrom: f.since,
      createdTo: f.until,
      data: schemas.dataConditions(f),
    });
    [list, total] = await Promise.all([
      service.listDeliveries({ ...where, beforeId: f.before, limit: f.limit }),
      service.countDeliveries(where, COUNT_CAP),
    ]);
    bodies = await service.lastResponseLines(list.map((d) => d.id));
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const byField = plainErrors(err, FILTER_LABELS);
    error = Object.values(byField).join(' ');
    // Payload conditions are named data.…; the page has one Payload box for them.
    errorFields = Object.keys(byField).map((f) => (f.startsWith('data') || f.startsWith('payload') ? 'payload' : f));
  }
  return { list, total, bodies, error, errorFields };
}

/** Past this, an envelope that cannot be laid out is cut: nobody reads 200 KB of brackets. */
const RAW_SHOWN_CHARS = 4096;

function prettyJson(body: string): string {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    // Deeper than JSON.stringify can recurse: show the start as it was sent, and say so.
    const cut = body.length > RAW_SHOWN_CHARS;
    return `(nested too deep to lay out; shown as sent${cut ? `, first ${RAW_SHOWN_CHARS} of ${body.length} characters — GET /api/deliveries/:id returns it whole` : ''})\n${body.slice(0, RAW_SHOWN_CHARS)}`;
  }
}

/**
 * The log page's payload box takes "data.student_id=student_42"; a link may
 * also carry data.student_id=… itself, as the API does.
 */
function payloadFilter(q: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(q)) if (k.startsWith('data.') && v) out[k] = v;
  const typed = q.payload?.trim();
  if (typed) {
    const m = /^(data\.[^=\s]+)\s*=\s*(.+)$/.exec(typed);
    // Not in that shape: passed on as a bad key, so the validation message names what is expected.
    if (m) out[m[1]!] = m[2]!.trim();
    else out[`payload "${typed.slice(0, 40)}"`] = 'x';
  }
  return out;
}
