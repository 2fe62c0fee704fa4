/**
 * What one site's web layer is made of, alone or as a site of a network: its
 * API behind its keys, and the answers for addresses that lead nowhere.
 */
import express, { type RequestHandler, type Router } from 'express';
import { fileURLToPath } from 'node:url';
import type { Service } from '../manage/service.js';
import { NotFoundError } from '../errors.js';
import { apiRouter } from './api.js';
import { requireApiKey, requireScope, type KeyCheck } from './apiAuth.js';
import { readBody } from './body.js';

const STATIC_DIR = fileURLToPath(new URL('../../../public/', import.meta.url));

/** A site's API: the caller's key, its scope, the JSON body, the routes, and a JSON 404 for the rest. */
export function siteApi(
  apiToken: string | undefined,
  service: Service,
  authenticate: (key: string) => Promise<KeyCheck>,
): Router {
  const r = express.Router();
  r.use(
    requireApiKey(apiToken, authenticate),
    requireScope,
    readBody(express.json({ limit: '1mb', strict: false })),
    apiRouter(service),
  );
  r.use(noApiRoute);
  return r;
}

export const noApiRoute: RequestHandler = (_req, res) => {
  res.status(404).json({ error: { code: 'not_found', message: 'no such API route' } });
};

/** A signed-in operator's mistyped address gets our page, not Express's bare "Cannot GET". */
export const noAdminPage: RequestHandler = (req, _res, next) =>
  next(new NotFoundError(`there is no page at ${req.originalUrl.split('?')[0]}`));

export const adminStatic = (): RequestHandler => express.static(STATIC_DIR, { maxAge: '1h', index: false });
