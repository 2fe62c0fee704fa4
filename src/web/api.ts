/**
 * The JSON API under /api. Thin routes: validate → call the service → present.
 */
import express, { type Router } from 'express';
import type { Service } from '../manage/service.js';
import * as schemas from '../manage/schemas.js';
import { check } from '../manage/schemas.js';
import {
  presentAttempt,
  presentDelivery,
  presentEndpoint,
  presentErasure,
  presentErasureResult,
} from './apiPresent.js';
import { settingsFromWire, settingsToWire } from '../types.js';
import { principalOf } from './apiAuth.js';

const id = schemas.parseId;

export function apiRouter(service: Service): Router {
  const r = express.Router();
  endpointRoutes(r, service);
  deliveryRoutes(r, service);
  hookRoutes(r, service);
  erasureRoutes(r, service);
  r.get('/poll/:id', async (req, res) => {
    const q = check<{ after: number; limit: number }>(schemas.pollQuery, req.query, 'query');
    res.json(await service.pollEndpoint(id(req.params.id), q.after, q.limit));
  });
  r.get('/event-types', async (_req, res) => {
    const { catalog, seen } = await service.eventTypes();
    res.json({ data: catalog, seen: seen.map((type) => ({ type })) });
  });

  r.get('/settings', async (_req, res) => {
    res.json(settingsToWire(await service.getSettings()));
  });

  r.patch('/settings', async (req, res) => {
    const { confirm, ...patch } = check<Record<string, unknown> & { confirm?: boolean }>(
      schemas.settingsPatch,
      req.body,
    );
    res.json(settingsToWire(await service.updateSettings({ ...settingsFromWire(patch), confirm })));
  });
  return r;
}

/** Erasure of matching events' payloads, and the record of every erasure. */
function erasureRoutes(r: Router, service: Service): void {
  r.post('/erasure', async (req, res) => {
    const body = check<{ where: Record<string, string | number>; pending: 'send' | 'cancel'; confirm?: boolean }>(
      schemas.erasureRequest,
      req.body,
    );
    const where = Object.fromEntries(Object.entries(body.where).map(([k, v]) => [k, String(v)]));
    const result = await service.requestErasure({ ...body, where }, requesterOf(principalOf(res)));
    res.status(result.erasure.status === 'done' ? 200 : 202).json(presentErasureResult(result));
  });

  r.get('/erasures', async (_req, res) => {
    res.json({ data: (await service.listErasures()).map(presentErasure) });
  });

  r.get('/erasures/:id', async (req, res) => {
    res.json(presentErasure(await service.getErasure(id(req.params.id))));
  });
}

/** Who asked, for the erasure record. */
function requesterOf(p: ReturnType<typeof principalOf>): string {
  return p.keyId === null ? `API (${p.name})` : `API key "${p.name}" (id ${p.keyId})`;
}

/** REST hooks as Zapier's platform documents them, and who the caller is (Zapier's authentication test). */
function hookRoutes(r: Router, service: Service): void {
  r.get('/me', (_req, res) => {
    const p = principalOf(res);
    res.json({ name: p.name, scope: p.scope, key_id: p.keyId });
  });

  r.post('/hooks', async (req, res) => {
    const body = check<{ target_url: string; event: string }>(schemas.hookSubscribe, req.body);
    res.status(201).json(await service.subscribeHook(principalOf(res), { url: body.target_url, event: body.event }));
  });

  r.delete('/hooks/:id', async (req, res) => {
    await service.unsubscribeHook(principalOf(res), id(req.params.id));
    res.status(204).end();
  });

  // A JSON array, newest first, each exactly as a hook receives it: Zapier's performList.
  r.get('/hooks/samples', async (req, res) => {
    res.json(await service.hookSamples(check<{ event: string }>(schemas.hookSamplesQuery, req.query, 'query').event));
  });
}

/** /endpoints and what is done to one endpoint. */
function endpointRoutes(r: Router, service: Service): void {
  r.get('/endpoints', async (_req, res) => {
    res.json({ data: (await service.listEndpoints()).map((e) => presentEndpoint(e)) });
  });

  r.post('/endpoints', async (req, res) => {
    const e = await service.createEndpoint(schemas.checkEndpointCreate(req.body));
    res.status(201).json(presentEndpoint(e, { revealSecret: true }));
  });

  r.get('/endpoints/:id', async (req, res) => {
    res.json(presentEndpoint(await service.getEndpoint(id(req.params.id))));
  });

  r.patch('/endpoints/:id', async (req, res) => {
    const endpointId = id(req.params.id);
    const { endpoint, resumed } = await service.updateEndpoint(endpointId, schemas.checkEndpointPatch(req.body));
    res.json({ ...presentEndpoint(endpoint), resumed_deliveries: resumed });
  });

  r.delete('/endpoints/:id', async (req, res) => {
    await service.deleteEndpoint(id(req.params.id));
    res.status(204).end();
  });

  r.post('/endpoints/:id/rotate-secret', async (req, res) => {
    const endpointId = id(req.params.id);
    const body = check<{ secret?: string; grace_hours?: number }>(schemas.rotateSecret, req.body ?? {});
    res.json(presentEndpoint(await service.rotateSecret(endpointId, body), { revealSecret: true }));
  });

  r.post('/endpoints/:id/test', async (req, res) => {
    const d = await service.sendTestEvent(id(req.params.id));
    res.status(202).json(presentDelivery(d));
  });

  r.post('/endpoints/:id/replay-failed', async (req, res) => {
    const endpointId = id(req.params.id);
    const { since } = check<{ since: Date }>(schemas.replayFailed, req.body);
    res.status(202).json({ replayed: await service.replayFailedSince(endpointId, since) });
  });

  r.get('/endpoints/:id/stats', async (req, res) => {
    const endpointId = id(req.params.id);
    const { days } = check<{ days: number }>(schemas.statsQuery, req.query, 'query');
    const { unit, buckets } = await service.endpointStats(endpointId, days);
    res.json({
      endpoint_id: endpointId,
      days,
      unit,
      latency_note: 'p50_ms and p95_ms are the upper edge of the latency band the percentile falls in',
      data: buckets.map((b) => ({
        start: b.start.toISOString(),
        attempts: b.attempts,
        successes: b.successes,
        failures: b.failures,
        p50_ms: b.p50Ms,
        p95_ms: b.p95Ms,
      })),
    });
  });

  r.post('/endpoints/:id/backfill', async (req, res) => {
    const endpointId = id(req.params.id);
    const body = check<{ since: Date; until?: Date; events?: string[] }>(schemas.backfill, req.body);
    const { queued, note } = await service.backfill(endpointId, body);
    res.status(202).json(note ? { queued, note } : { queued });
  });
}

/** The delivery log, one delivery, replay and skip. */
function deliveryRoutes(r: Router, service: Service): void {
  r.get('/deliveries', async (req, res) => {
    const q = check<schemas.DeliveryQuery>(schemas.deliveryQuery, req.query, 'query');
    const list = await service.listDeliveries({
      endpointId: q.endpoint_id,
      status: q.status,
      eventType: q.event_type,
      eventId: q.event_id,
      createdFrom: q.since,
      createdTo: q.until,
      beforeId: q.before,
      data: schemas.dataConditions(q),
      limit: q.limit,
    });
    const last = list.at(-1);
    res.json({
      data: list.map(presentDelivery),
      next_cursor: list.length === q.limit && last ? String(last.id) : null,
    });
  });

  r.get('/deliveries/:id', async (req, res) => {
    const { delivery, attempts } = await service.getDelivery(id(req.params.id));
    // The envelope is spliced in as the bytes that were signed and sent: no
    // parse/stringify round trip, which would also overflow the stack on
    // payloads nested 100,000 deep (fan-out checked it is valid JSON).
    const rest = JSON.stringify({ ...presentDelivery(delivery), attempt_log: attempts.map(presentAttempt) });
    res.type('application/json').send(`${rest.slice(0, -1)},"payload":${delivery.body}}`);
  });

  r.post('/deliveries/:id/replay', async (req, res) => {
    res.status(202).json(presentDelivery(await service.replayDelivery(id(req.params.id))));
  });

  r.post('/deliveries/:id/skip', async (req, res) => {
    const { skipped, next } = await service.skipDelivery(id(req.params.id));
    res.json({ ...presentDelivery(skipped), next_delivery_id: next });
  });
}
