/**
 * The HTTP application. createApp never listens: main.ts does, and tests
 * drive it over real HTTP on an ephemeral port.
 */
import { openApiDocument } from './openapi.js';
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import helmet from 'helmet';
import type { Registry } from 'prom-client';
import { fileURLToPath } from 'node:url';
import type { Service } from '../manage/service.js';
import type { Logger } from '../log.js';
import { adminRouter, type AdminDeps } from './admin/index.js';
import { viewHelpers } from './templateHelpers.js';
import { hasBearer } from './apiAuth.js';
import { adminStatic, noAdminPage, siteApi } from './siteRoutes.js';
import type { NetworkAccess } from '../network/access.js';
import { mountNetwork } from './network.js';
import { isUnreadableBody } from './body.js';
import { NotFoundError, UnavailableError, ValidationError, coerceError, isConnectionError } from '../errors.js';

export interface Health {
  /** Resolves when the database answers. */
  ping(): Promise<void>;
  lastTickAt(): number | null;
  /** The database host in use (host:port), which changes when a cluster node fails over. */
  databaseHost?(): string | null;
}

export interface AppDeps {
  /** The sidecar's version, for the OpenAPI document. */
  version?: string;
  service: Service;
  log: Logger;
  apiToken: string | undefined;
  trustProxy: boolean | number | string;
  health: Health;
  /** Prometheus registry served at /metrics. */
  metrics?: Registry;
  /** The admin pages; omitted only by tests of the API alone. */
  admin?: Omit<AdminDeps, 'service' | 'network'>;
  /** In network mode: the sites served and who may see which (web/network.ts mounts them). */
  network?: NetworkAccess;
}

const VIEWS_DIR = fileURLToPath(new URL('../../../views/', import.meta.url));

/** Addresses of admin pages (a network site's too), whose errors are pages rather than JSON. */
const ADMIN_PAGE_RE = /^(\/sites\/[^/?#]+)?\/admin(\/|\?|$)/;

/** A loop that has not ticked for this long is reported unhealthy. */
const STALE_TICK_MS = 30_000;

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.trustProxy);
  app.set('query parser', 'simple');
  app.set('views', VIEWS_DIR);
  app.set('view engine', 'ejs');
  app.locals.h = viewHelpers;
  // Where the admin pages of the site being shown live: '' alone, /sites/N in a network (set per request there).
  app.locals.base = '';
  app.use(securityHeaders());
  app.use(oneValuePerQueryParameter);

  // Admin pages and API answers can hold secrets (the reveal box, a created endpoint's secret): never cached.
  app.use(['/admin', '/api', '/sites'], (req, res, next) => {
    if (!req.path.startsWith('/static/')) res.set('Cache-Control', 'no-store');
    next();
  });

  app.get('/healthz', healthRoute(deps));

  // Unauthenticated like /healthz, for scrapers; labels carry endpoint ids only.
  // Bind HOST to a private address (the default is 127.0.0.1) to keep it in.
  if (deps.metrics) {
    const registry = deps.metrics;
    app.get('/metrics', async (_req, res) => {
      res.set('Content-Type', registry.contentType).send(await registry.metrics());
    });
  }

  // The API's own description: no token, so tools can read it before they have one.
  app.get('/api/openapi.json', (_req, res) => {
    res.json(openApiDocument(deps.version ?? '0.0.0'));
  });
  if (deps.network) mountNetwork(app, { ...deps, network: deps.network });
  else mountSite(app, deps);

  app.use(errorHandler(deps.log));
  return app;
}

/** One site served alone: its API under /api, its pages under /admin. */
function mountSite(app: Express, deps: AppDeps): void {
  app.use(
    '/api',
    siteApi(deps.apiToken, deps.service, (key) => deps.service.authenticateKey(key)),
  );
  if (deps.admin) {
    app.use('/admin/static', adminStatic());
    app.use('/admin', adminRouter({ ...deps.admin, service: deps.service }), noAdminPage);
    app.get('/', (_req, res) => res.redirect(302, '/admin'));
  }
}

/** Helmet's headers; no inline script anywhere, so the CSP can forbid it outright. */
function securityHeaders() {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: true,
      directives: {
        'script-src': ["'self'"],
        'style-src': ["'self'"],
        'img-src': ["'self'", 'data:'],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
        // Operators often reach the UI over plain HTTP on a private network or an SSH tunnel.
        'upgrade-insecure-requests': null,
      },
    },
    strictTransportSecurity: false,
  });
}

/**
 * One value per query parameter: `?status=failed&status=pending` or
 * `?status[]=x` would reach the routes as an array where a string is read.
 */
const oneValuePerQueryParameter: RequestHandler = (req, _res, next) => {
  for (const [name, value] of Object.entries(req.query)) {
    if (typeof value !== 'string') {
      const n = Array.isArray(value) ? value.length : 0;
      return next(
        new ValidationError(
          `query parameter ${name} was given ${n > 1 ? `${n} times` : 'as a list'}; give it once`,
          name,
        ),
      );
    }
  }
  next();
};

/** /healthz: status for anyone; where the database is and when the loop ran only with the API token. */
function healthRoute(deps: AppDeps): RequestHandler {
  return async (req, res) => {
    const last = deps.health.lastTickAt();
    let database = 'up';
    try {
      await deps.health.ping();
    } catch {
      database = 'down';
    }
    const loopStale = last === null || Date.now() - last > STALE_TICK_MS;
    const ok = database === 'up' && !loopStale;
    const status = { status: ok ? 'ok' : 'unhealthy', database, loop: loopStale ? 'stale' : 'ticking' };
    // Where the database is and when the loop ran are for the operator: only with the API token.
    const detail = hasBearer(req.get('authorization'), deps.apiToken)
      ? {
          database_host: deps.health.databaseHost?.() ?? null,
          last_tick_at: last === null ? null : new Date(last).toISOString(),
        }
      : {};
    res.status(ok ? 200 : 503).json({ ...status, ...detail });
  };
}

function errorHandler(log: Logger): ErrorRequestHandler {
  return (thrown, req, res, _next) => {
    const err = coerceError(thrown);
    const bodyErr = thrown as { type?: string; status?: number };
    let status = 500;
    let payload: Record<string, unknown>;
    if (err instanceof ValidationError) {
      status = 400;
      payload = {
        code: err.flags.needsConfirm ? 'confirmation_required' : 'validation_error',
        message: err.message,
        field: err.field,
        // The wire keeps field and message; joi's rule and context are for the pages' own wording.
        details: err.details.map(({ field, message }) => ({ field, message })),
      };
    } else if (bodyErr.type === 'entity.parse.failed') {
      status = 400;
      payload = { code: 'invalid_json', message: `request body is not valid JSON: ${err.message}` };
    } else if (bodyErr.type === 'entity.too.large') {
      status = 413;
      payload = { code: 'too_large', message: 'request body is larger than 1 MB' };
    } else if (isUnreadableBody(thrown)) {
      // Bad input, not our fault: a warning without a stack. (An encoding body-parser
      // does not know carries a type, encoding.unsupported, and is answered 415 below.)
      status = 400;
      const encoding = req.get('content-encoding') ?? 'none';
      payload = {
        code: 'unreadable_body',
        message: `request body could not be decoded as Content-Encoding ${encoding}: ${err.message}`,
      };
      log.warn('request body could not be decoded', {
        method: req.method,
        path: req.path,
        content_encoding: encoding,
        error: err.message,
      });
    } else if (bodyErr.type && bodyErr.status && bodyErr.status < 500) {
      status = bodyErr.status;
      payload = { code: 'bad_request', message: err.message };
    } else if (err instanceof NotFoundError) {
      status = 404;
      payload = { code: 'not_found', message: err.message };
    } else if (err instanceof UnavailableError || isConnectionError(thrown)) {
      status = 503;
      payload = { code: 'database_unavailable', message: 'the database is not answering; try again shortly' };
    } else {
      log.error('request failed', { method: req.method, path: req.path, error: err.message, stack: err.stack });
      payload = { code: 'internal_error', message: 'internal error; the sidecar log has the details' };
    }
    if (res.headersSent) return;
    if (ADMIN_PAGE_RE.test(req.originalUrl)) {
      const titles: Record<number, string> = {
        400: 'Not valid',
        415: 'Not valid',
        404: 'Not found',
        503: 'Database unavailable',
        500: 'Something went wrong',
      };
      res.status(status).render('error', { title: titles[status] ?? 'Error', message: String(payload.message) });
      return;
    }
    res.status(status).json({ error: payload });
  };
}
