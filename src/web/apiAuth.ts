/**
 * Who may call /api: the environment's API_TOKEN (a `full` key, compared in
 * constant time: constantTimeEqual hashes both sides first, so nothing leaks
 * about its length) or an API key made in the admin. A key's scope decides
 * which routes it reaches; outside them it gets 403 naming the scope.
 */
import type { RequestHandler, Response } from 'express';
import { constantTimeEqual } from '../manage/adminAccess.js';
import { POLL_SCOPE_RE, reachesEverything, type ApiPrincipal } from '../manage/apiKeyOps.js';

/** Whether an Authorization header carries this bearer token (false when no token is configured). */
export function hasBearer(header: string | undefined, token: string | undefined): boolean {
  const given = bearerOf(header);
  return Boolean(token) && given !== null && constantTimeEqual(given, token!);
}

const bearerOf = (header: string | undefined) => /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1] ?? null;

/** The caller, set by requireApiKey. */
export function principalOf(res: Response): ApiPrincipal {
  return res.locals.apiPrincipal as ApiPrincipal;
}

/** What a bearer token that is not API_TOKEN is: a key of this site, a key of another (`elsewhere`), or nothing. */
export interface KeyCheck {
  principal: ApiPrincipal | null;
  revoked: boolean;
  /** A valid key of another site of the network: answered 404, as if nothing were here. */
  elsewhere?: boolean;
}

export function requireApiKey(
  token: string | undefined,
  authenticate: (key: string) => Promise<KeyCheck>,
): RequestHandler {
  const refuse = (res: Response, message: string) => {
    res.set('WWW-Authenticate', 'Bearer realm="webhooks"');
    res.status(401).json({ error: { code: 'unauthorized', message } });
  };
  return (req, res, next) => {
    // DESIGN: the API is off while API_TOKEN is unset; keys work once it is on.
    if (!token) {
      res.status(404).json({
        error: {
          code: 'api_disabled',
          message: 'the API is off: set API_TOKEN to enable it (API keys made in the admin then work beside it)',
        },
      });
      return;
    }
    const given = bearerOf(req.get('authorization'));
    if (given === null) return refuse(res, 'missing bearer token in the Authorization header: an API key or API_TOKEN');
    if (constantTimeEqual(given, token)) {
      res.locals.apiPrincipal = { keyId: null, name: 'API_TOKEN', scope: 'full' } satisfies ApiPrincipal;
      return next();
    }
    authenticate(given)
      .then(({ principal, revoked, elsewhere }) => {
        if (elsewhere) {
          res
            .status(404)
            .json({ error: { code: 'not_found', message: 'there is nothing at this address for this API key' } });
          return;
        }
        if (!principal)
          return refuse(res, revoked ? 'this API key was revoked' : 'wrong bearer token in the Authorization header');
        res.locals.apiPrincipal = principal;
        next();
      })
      .catch(next);
  };
}

/** Routes a `hooks` key may call: its REST hooks, their samples, and who it is. */
const HOOKS_ROUTES: [string, RegExp][] = [
  ['POST', /^\/hooks\/?$/],
  ['DELETE', /^\/hooks\/\d+\/?$/],
  ['GET', /^\/hooks\/samples\/?$/],
  ['GET', /^\/me\/?$/],
];

/** What a scope below full reaches, and how its refusal says so. */
function reachOf(scope: string): { routes: [string, RegExp][]; allows: string; needs: string } {
  const poll = POLL_SCOPE_RE.exec(scope);
  if (poll)
    return {
      routes: [
        ['GET', new RegExp(`^/poll/${poll[1]}/?$`)],
        ['GET', /^\/me\/?$/],
      ],
      allows: `polling that endpoint (GET /api/poll/${poll[1]}) and GET /api/me`,
      needs: 'another key',
    };
  return {
    routes: scope === 'hooks' ? HOOKS_ROUTES : [],
    allows:
      'subscribing and unsubscribing its own REST hooks (POST /api/hooks, DELETE /api/hooks/:id), reading samples (GET /api/hooks/samples) and GET /api/me',
    needs: 'a full key',
  };
}

/** Keeps each key inside its scope; `full` reaches everything. */
export const requireScope: RequestHandler = (req, res, next) => {
  const p = principalOf(res);
  if (reachesEverything(p.scope)) return next();
  const reach = reachOf(p.scope);
  if (reach.routes.some(([m, re]) => m === req.method && re.test(req.path))) return next();
  res.status(403).json({
    error: {
      code: 'forbidden',
      message: `this API key's scope is ${p.scope}, which allows only ${reach.allows}; ${req.method} /api${req.path} needs ${reach.needs}`,
      scope: p.scope,
    },
  });
};
