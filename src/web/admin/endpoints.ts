/**
 * Endpoint pages: the list, add, edit; the page's other forms are in
 * endpointActions.ts.
 */
import express, { type Router } from 'express';
import * as schemas from '../../manage/schemas.js';
import { ValidationError } from '../../errors.js';
import { describeSubscription } from '../../delivery/subscriptions.js';
import { PROVIDER_NAMES } from '../../delivery/chat.js';
import { adminHref, idOf } from './pageHelpers.js';
import { plainErrors } from './messages.js';
import type { AdminDeps } from './deps.js';
import { blankValues, ENDPOINT_LABELS, endpointValues, toEndpointInput } from './endpointForm.js';
import { formLocals, renderEndpoint } from './endpointPage.js';
import { endpointActions, historyActions, templateActions, transformationActions } from './endpointActions.js';

export function endpointsRouter(deps: AdminDeps): Router {
  const { service } = deps;
  const r = express.Router();
  r.get('/endpoints', async (_req, res) => {
    const [endpoints, health, settings] = await Promise.all([
      service.listEndpoints(),
      service.endpointHealth24h(),
      service.getSettings(),
    ]);
    res.render('endpoints', {
      title: 'Endpoints',
      endpoints,
      health,
      httpsOnly: settings.httpsOnly,
      describe: describeSubscription,
      providerNames: { ...PROVIDER_NAMES, zapier: 'Zapier', polling: 'Polled' },
    });
  });

  r.get('/endpoints/new', async (_req, res) => {
    res.render('endpoint-form', {
      ...(await formLocals(service)),
      title: 'Add endpoint',
      endpoint: null,
      values: blankValues(),
      errors: {},
      needsConfirm: false,
    });
  });

  r.post('/endpoints', async (req, res) => {
    const values = endpointValues(req.body as Record<string, unknown>);
    try {
      const e = await service.createEndpoint(schemas.checkEndpointCreate(toEndpointInput(values)));
      res.redirect(303, adminHref(res, `/endpoints/${e.id}?notice=endpoint-created`));
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      res.status(400).render('endpoint-form', {
        ...(await formLocals(service)),
        title: 'Add endpoint',
        endpoint: null,
        values,
        errors: plainErrors(err, ENDPOINT_LABELS),
        needsConfirm: err.flags.needsConfirm === true,
      });
    }
  });

  r.get('/endpoints/:id', async (req, res) => {
    await renderEndpoint(service, res, idOf(req), 200);
  });

  r.post('/endpoints/:id', async (req, res) => {
    const id = idOf(req);
    const body = req.body as Record<string, unknown>;
    const values = endpointValues(body);
    try {
      const patch = schemas.checkEndpointCreate(toEndpointInput(values, await service.getEndpoint(id)));
      const { resumed } = await service.updateEndpoint(id, patch, { resumePaused: body.resume_paused === 'on' });
      res.redirect(303, adminHref(res, `/endpoints/${id}?notice=${resumed > 0 ? 'resumed' : 'endpoint-saved'}`));
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      await renderEndpoint(
        service,
        res,
        id,
        400,
        values,
        plainErrors(err, ENDPOINT_LABELS),
        err.flags.needsConfirm === true,
      );
    }
  });

  endpointActions(r, deps);
  historyActions(r, deps);
  templateActions(r, deps);
  transformationActions(r, deps);
  return r;
}
