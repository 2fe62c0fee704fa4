/**
 * Bearer-token check for /api, in constant time (constantTimeEqual hashes
 * both sides first, so nothing leaks about the token's length).
 */
import { constantTimeEqual } from '../manage/adminAccess.js';
import type { RequestHandler } from 'express';

/** Whether an Authorization header carries this bearer token (false when no token is configured). */
export function hasBearer(header: string | undefined, token: string | undefined): boolean {
  if (!token) return false;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m !== null && constantTimeEqual(m[1]!, token);
}

export function requireBearer(token: string | undefined): RequestHandler {
  return (req, res, next) => {
    if (!token) {
      res.status(404).json({ error: { code: 'api_disabled', message: 'the API is off: set API_TOKEN to enable it' } });
      return;
    }
    if (!hasBearer(req.get('authorization'), token)) {
      res.set('WWW-Authenticate', 'Bearer realm="webhooks"');
      res.status(401).json({
        error: { code: 'unauthorized', message: 'missing or wrong bearer token in the Authorization header' },
      });
      return;
    }
    next();
  };
}
