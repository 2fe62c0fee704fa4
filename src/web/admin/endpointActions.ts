/**
 * The forms on one endpoint's page besides its settings: rotate the secret,
 * send a test event, replay failed deliveries, backfill, delete.
 */
import type { Router } from 'express';
import * as schemas from '../../manage/schemas.js';
import { check } from '../../manage/schemas.js';
import { ValidationError } from '../../errors.js';
import { asText } from '../../text.js';
import { adminHref, idOf, localToIso } from './pageHelpers.js';
import { DATE_EXAMPLE, plainErrors, plainSentence } from './messages.js';
import type { AdminDeps } from './deps.js';
import { renderEndpoint } from './endpointPage.js';

/** Rotate the secret, send a test event, delete. */
export function endpointActions(r: Router, deps: AdminDeps): void {
  const { service } = deps;
  r.post('/endpoints/:id/rotate', async (req, res) => {
    const id = idOf(req);
    const body = req.body as Record<string, unknown>;
    if (body.confirm !== 'on') {
      return renderEndpoint(service, res, id, 400, undefined, {
        rotate_confirm: 'Tick the box to rotate: receivers must be given the new secret before the grace period ends.',
      });
    }
    let grace: number;
    try {
      ({ grace_hours: grace } = check<{ grace_hours: number }>(schemas.rotateSecret, {
        grace_hours: asText(body.grace_hours),
      }));
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return renderEndpoint(service, res, id, 400, undefined, {
        grace_hours: 'Choose how long the previous secret keeps working.',
      });
    }
    const e = await service.rotateSecret(id, { grace_hours: grace });
    // The new secret is shown once, right away, on this answer (not carried through a redirect).
    res.locals.notice = {
      kind: 'success',
      text:
        grace > 0
          ? 'Secret rotated. Give the new secret below to your receivers: until the grace period ends they may check it in X-Webhook-Signature-Next, while X-Webhook-Signature stays signed with the previous one.'
          : 'Secret rotated with no grace period: from now on every request is signed with the new secret below only.',
    };
    await renderEndpoint(service, res, id, 200, undefined, {}, false, e.secret);
  });

  r.post('/endpoints/:id/test', async (req, res) => {
    const id = idOf(req);
    await service.sendTestEvent(id);
    res.redirect(303, adminHref(res, `/endpoints/${id}?notice=test-sent`));
  });

  r.post('/endpoints/:id/delete', async (req, res) => {
    const id = idOf(req);
    // Deleting takes the whole history with it, so it asks twice (no JavaScript confirm needed).
    if ((req.body as Record<string, unknown>).confirm !== 'on') {
      return renderEndpoint(service, res, id, 400, undefined, {
        delete_confirm: 'Tick the box to confirm: this deletes the endpoint with all its deliveries.',
      });
    }
    await service.deleteEndpoint(id);
    res.redirect(303, adminHref(res, '/endpoints?notice=endpoint-deleted'));
  });
}

/** A chat endpoint's templates: save them, preview one as typed (JSON, for the page's script), send one as a test message. */
export function templateActions(r: Router, deps: AdminDeps): void {
  const { service } = deps;
  r.post('/endpoints/:id/templates', async (req, res) => {
    const id = idOf(req);
    const given = typedTemplates(req.body as Record<string, unknown>);
    try {
      await service.saveTemplates(id, given);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      res.locals.typedTemplates = given; // what was typed stays in the boxes
      return renderEndpoint(service, res, id, 400, undefined, { templates: err.message });
    }
    res.redirect(303, adminHref(res, `/endpoints/${id}?notice=templates-saved#templates`));
  });

  r.post('/endpoints/:id/preview', async (req, res) => {
    const body = req.body as Record<string, unknown>;
    try {
      res.json(await service.previewTemplate(idOf(req), asText(body.event_type), asText(body.template)));
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      res.status(400).json({ error: err.message });
    }
  });

  r.post('/endpoints/:id/test-message', async (req, res) => {
    const id = idOf(req);
    const body = req.body as Record<string, unknown>;
    // What is in the boxes is saved first, so the test shows the message as it will be sent.
    try {
      await service.saveTemplates(id, typedTemplates(body));
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      res.locals.typedTemplates = typedTemplates(body); // what was typed stays in the boxes
      return renderEndpoint(service, res, id, 400, undefined, { templates: err.message });
    }
    await service.sendTestEvent(id, asText(body.event_type) || undefined);
    res.redirect(303, adminHref(res, `/endpoints/${id}?notice=test-sent`));
  });
}

/** The endpoint's transformation: "Try it" on an event type, and save. */
export function transformationActions(r: Router, deps: AdminDeps): void {
  const { service } = deps;
  r.post('/endpoints/:id/transformation', async (req, res) => {
    const id = idOf(req);
    const body = req.body as Record<string, unknown>;
    const code = asText(body.transformation);
    const eventType = asText(body.event_type, 'enrollment.created');
    res.locals.typedTransformation = code;
    res.locals.trialType = eventType;
    try {
      if (body.action === 'try') {
        res.locals.trial = await service.tryTransformation(id, code, eventType);
        return renderEndpoint(service, res, id, 200);
      }
      await service.saveTransformation(id, code);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return renderEndpoint(service, res, id, 400, undefined, { transformation: err.message });
    }
    res.redirect(303, adminHref(res, `/endpoints/${id}?notice=transformation-saved#transformation`));
  });
}

/** The templates form's boxes: event_type[i] and template[i], in order. */
function typedTemplates(body: Record<string, unknown>): Record<string, string> {
  const list = (v: unknown) => (Array.isArray(v) ? v : v === undefined ? [] : [v]).map((x) => asText(x));
  const types = list(body.types);
  const texts = list(body.template);
  return Object.fromEntries(types.map((type, i) => [type, texts[i] ?? '']));
}

/** Sending history again: replay the failed deliveries since a time, backfill a window the endpoint never got. */
export function historyActions(r: Router, deps: AdminDeps): void {
  const { service } = deps;
  r.post('/endpoints/:id/replay-failed', async (req, res) => {
    const id = idOf(req);
    const raw = asText((req.body as Record<string, unknown>).since);
    let since: Date;
    try {
      ({ since } = check<{ since: Date }>(schemas.replayFailed, { since: localToIso(raw) }));
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      res.locals.typed = { since: raw };
      return renderEndpoint(service, res, id, 400, undefined, {
        since: `Replay failed deliveries since: type a date and time as ${DATE_EXAMPLE} (UTC).`,
      });
    }
    try {
      const n = await service.replayFailedSince(id, since);
      res.redirect(
        303,
        adminHref(
          res,
          `/endpoints/${id}?${n === 0 ? 'notice=replayed-none' : n === 1 ? 'notice=replayed-one' : `notice=replayed-many&count=${n}`}`,
        ),
      );
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      res.locals.typed = { since: raw };
      await renderEndpoint(service, res, id, 400, undefined, {
        since: plainSentence(err, { since: 'Replay failed deliveries since' }),
      });
    }
  });

  r.post('/endpoints/:id/backfill', async (req, res) => {
    const id = idOf(req);
    const body = req.body as Record<string, unknown>;
    const untilRaw = asText(body.until);
    try {
      const input = check<{ since: Date; until?: Date }>(schemas.backfill, {
        since: localToIso(asText(body.since)),
        ...(untilRaw ? { until: localToIso(untilRaw) } : {}),
      });
      const { queued, note } = await service.backfill(id, input);
      res.locals.notice = {
        kind: queued > 0 ? 'success' : 'info',
        text: `Backfill: ${queued} event${queued === 1 ? '' : 's'} queued for this endpoint, with their original ids.${note ? ` Note: ${note}.` : ''}`,
      };
      await renderEndpoint(service, res, id, 202);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      res.locals.typed = { backfillSince: asText(body.since), backfillUntil: untilRaw };
      const errors = plainErrors(err, { since: 'Backfill from', until: 'Backfill until' });
      await renderEndpoint(service, res, id, 400, undefined, {
        ...(errors.since ? { backfill_since: errors.since } : {}),
        ...(errors.until ? { backfill_until: errors.until } : {}),
        ...(!errors.since && !errors.until ? { backfill_since: Object.values(errors).join(' ') } : {}),
      });
    }
  });
}
