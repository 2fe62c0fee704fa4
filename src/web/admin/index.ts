/**
 * The admin pages under /admin: server-rendered EJS, working without
 * client-side JavaScript. One router per page group; thin routes: validate →
 * call the service → render or redirect (POST/redirect/GET, with a notice
 * code from an allowlist).
 */
import express, { type Router } from 'express';
import { readBody } from '../body.js';
import type { AdminDeps } from './deps.js';
import { loginRouter, sessionGate } from './session.js';
import { dashboardRouter } from './dashboard.js';
import { endpointsRouter } from './endpoints.js';
import { deliveriesRouter } from './deliveries.js';
import { eventsRouter } from './events.js';
import { settingsRouter } from './settings.js';
import { apiKeysRouter } from './apiKeys.js';
import { captureRouter } from './capture.js';
import { erasureRouter } from './erasure.js';

export { barChart } from './dashboard.js';
export { catalogChoices } from './endpointForm.js';

export type { AdminDeps } from './deps.js';

/** The admin of one site served alone: sign-in, then its pages. */
export function adminRouter(deps: AdminDeps): Router {
  const r = formRouter();
  r.use(loginRouter(deps));
  r.use(sitePages(deps));
  return r;
}

/** A network site's pages (under /sites/N/admin): the network's sign-in, this site's access, its pages. */
export function networkSiteAdminRouter(deps: AdminDeps): Router {
  const r = formRouter();
  r.use(sitePages(deps));
  return r;
}

/** The network's own admin under /admin: sign-in for every site, then `pages` (the overview). */
export function networkAdminRouter(deps: AdminDeps, pages: Router): Router {
  const r = formRouter();
  r.use(loginRouter(deps));
  r.use(sessionGate(deps));
  r.use(pages);
  return r;
}

function formRouter(): Router {
  const r = express.Router();
  r.use(readBody(express.urlencoded({ extended: false, limit: '100kb', parameterLimit: 200 })));
  r.use((req, _res, next) => {
    // A POST without a form body still gets an object, so every check can read it.
    req.body ??= {};
    next();
  });
  return r;
}

function sitePages(deps: AdminDeps): Router {
  const r = express.Router();
  // Everything below needs a session.
  r.use(sessionGate(deps));
  // Every signed-in page says when an endpoint is failing or disabled, with a link to it.
  r.use(async (_req, res, next) => {
    try {
      res.locals.trouble = await deps.service.troubledEndpoints();
    } catch {
      res.locals.trouble = [];
    }
    next();
  });
  r.use(dashboardRouter(deps));
  r.use(endpointsRouter(deps));
  r.use(deliveriesRouter(deps));
  r.use(eventsRouter(deps));
  r.use(settingsRouter(deps));
  r.use(apiKeysRouter(deps));
  r.use(captureRouter(deps));
  r.use(erasureRouter(deps));
  return r;
}
