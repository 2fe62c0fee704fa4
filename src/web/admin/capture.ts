/**
 * Sikshya capture: which triggers are installed and current, what is
 * wrong, and the buttons to install (or upgrade) and remove them.
 */
import express, { type Response, type Router } from 'express';
import type { Service } from '../../manage/service.js';
import { ValidationError } from '../../errors.js';
import type { AdminDeps } from './deps.js';

export function captureRouter(deps: AdminDeps): Router {
  const { service } = deps;
  const r = express.Router();
  r.get('/capture', async (_req, res) => {
    await renderCapture(service, res, 200);
  });

  r.post('/capture/install', async (_req, res) => {
    try {
      const s = await service.installCapture();
      res.locals.notice = {
        kind: 'success',
        text: `Sikshya capture installed: ${s.triggers.length} triggers write Sikshya's changes into the outbox in the same transaction.`,
      };
      await renderCapture(service, res, 200);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      res.locals.notice = { kind: 'error', text: err.message };
      await renderCapture(service, res, 400);
    }
  });

  r.post('/capture/remove', async (req, res) => {
    if ((req.body as Record<string, unknown>).confirm !== 'on') {
      res.locals.notice = { kind: 'error', text: 'Tick the box to remove: Sikshya events stop reaching the outbox.' };
      return renderCapture(service, res, 400);
    }
    try {
      const n = await service.removeCapture();
      res.locals.notice = { kind: 'success', text: `Removed ${n} capture triggers; Sikshya's tables are unchanged.` };
      await renderCapture(service, res, 200);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      res.locals.notice = { kind: 'error', text: err.message };
      await renderCapture(service, res, 400);
    }
  });
  return r;
}

async function renderCapture(service: Service, res: Response, status: number) {
  res.status(status).render('capture', { title: 'Events', status: await service.captureStatus() });
}
