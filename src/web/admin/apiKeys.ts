/**
 * API keys: make one (name, scope; the key is shown once, on the answer to
 * the form, never again), see when each was last used, revoke.
 */
import express, { type Response, type Router } from 'express';
import * as schemas from '../../manage/schemas.js';
import { check } from '../../manage/schemas.js';
import type { ApiKeyScope } from '../../manage/apiKeyOps.js';
import type { Service } from '../../manage/service.js';
import { ValidationError } from '../../errors.js';
import { asText } from '../../text.js';
import { idOf } from './pageHelpers.js';
import { networkViewOf } from './session.js';
import { plainErrors } from './messages.js';
import type { AdminDeps } from './deps.js';

const LABELS = { name: 'Name', scope: 'Scope' };

export function apiKeysRouter(deps: AdminDeps): Router {
  const { service } = deps;
  const r = express.Router();
  r.get('/api-keys', async (_req, res) => {
    await renderKeys(service, res, 200);
  });

  r.post('/api-keys', async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const typed = { name: asText(body.name), scope: asText(body.scope) };
    try {
      const input = check<{ name: string; scope: ApiKeyScope }>(schemas.apiKeyCreate, typed);
      if (input.scope === 'network' && !networkViewOf(res)?.superAdmin)
        throw new ValidationError('scope network (full on every site) is made by a network administrator', 'scope');
      const { key, apiKey } = await service.createApiKey(input.name, input.scope);
      res.locals.notice = {
        kind: 'success',
        text: `API key "${apiKey.name}" made. Copy it now: it is shown only this once.`,
      };
      await renderKeys(service, res, 201, { newKey: key });
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      await renderKeys(service, res, 400, { typed, errors: plainErrors(err, LABELS) });
    }
  });

  r.post('/api-keys/:id/revoke', async (req, res) => {
    const id = idOf(req);
    try {
      const { paused } = await service.revokeApiKey(id);
      res.locals.notice = {
        kind: 'success',
        text: `API key revoked.${paused ? ` ${paused} REST hook${paused === 1 ? '' : 's'} it made ${paused === 1 ? 'is' : 'are'} disabled; ${paused === 1 ? 'its' : 'their'} events wait, paused.` : ''}`,
      };
      await renderKeys(service, res, 200);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      res.locals.notice = { kind: 'error', text: err.message };
      await renderKeys(service, res, 400);
    }
  });
  return r;
}

async function renderKeys(
  service: Service,
  res: Response,
  status: number,
  more: { newKey?: string; typed?: { name: string; scope: string }; errors?: Record<string, string> } = {},
) {
  const [keys, endpoints] = await Promise.all([service.listApiKeys(), service.listEndpoints()]);
  const hooks = new Map<number, number>();
  for (const e of endpoints) if (e.apiKeyId !== null) hooks.set(e.apiKeyId, (hooks.get(e.apiKeyId) ?? 0) + 1);
  res.status(status).render('api-keys', {
    title: 'API keys',
    keys,
    hooks,
    pollable: endpoints.filter((e) => e.type === 'polling'),
    newKey: more.newKey ?? null,
    values: more.typed ?? { name: '', scope: 'hooks' },
    errors: more.errors ?? {},
  });
}
