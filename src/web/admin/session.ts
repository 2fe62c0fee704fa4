/**
 * Signing in and out, and the gate in front of every other admin page: a
 * session (from the database), its CSRF token on every POST, and the page
 * helpers in the site's time zone.
 */
import express, { type Request, type Response, type Router } from 'express';
import { parse as parseCookieHeader } from 'cookie';
import { constantTimeEqual } from '../../manage/adminAccess.js';
import { randomToken, type Session } from '../../manage/adminAccess.js';
import { viewHelpersFor } from '../templateHelpers.js';
import { notice } from './pageHelpers.js';
import type { AdminDeps } from './deps.js';
import { asText } from '../../text.js';
import { NotFoundError } from '../../errors.js';

const SESSION_COOKIE = 'whs_session';
const LOGIN_CSRF_COOKIE = 'whs_login_csrf';

/** GET/POST /login (no session needed). */
export function loginRouter(deps: AdminDeps): Router {
  const { auth, throttle } = deps;
  const r = express.Router();
  r.get('/login', async (req, res) => {
    if (await auth.loadSession(cookies(req)[SESSION_COOKIE])) return res.redirect(303, '/admin');
    renderLogin(req, res, 200, null);
  });

  r.post('/login', async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const token = asText(body._csrf);
    const cookieToken = cookies(req)[LOGIN_CSRF_COOKIE] ?? '';
    if (!token || !cookieToken || !constantTimeEqual(token, cookieToken))
      return renderLogin(req, res, 403, 'The login form expired. Please try again.');
    const key = req.ip ?? 'unknown';
    const wait = await throttle.take(key);
    if (wait > 0) {
      res.set('Retry-After', String(wait));
      return renderLogin(req, res, 429, `Too many failed logins. Try again in ${Math.ceil(wait / 60)} minutes.`);
    }
    const password = typeof body.password === 'string' ? body.password.slice(0, 4096) : '';
    const userName = typeof body.username === 'string' ? body.username.slice(0, 200) : '';
    const who = password ? await auth.checkLogin(userName, password) : null;
    if (!who) {
      // One message for an unknown user, a wrong password and a non-administrator: no account oracle.
      return renderLogin(
        req,
        res,
        401,
        userName.trim() && userName.trim() !== 'admin'
          ? 'That user name or password is not right, or the account is not a WordPress administrator.'
          : 'That password is not right.',
      );
    }
    await throttle.succeed(key);
    // A new session id at every login: a session fixed before login is worthless.
    const { id } = await auth.createSession(who);
    res.cookie(SESSION_COOKIE, id, cookieOptions(req, sessionCookiePath(deps)));
    res.clearCookie(LOGIN_CSRF_COOKIE, { path: '/admin/login' });
    res.redirect(303, safeNext(body.next));
  });
  return r;
}

/** Everything after it needs a session; POST /logout ends one. */
export function sessionGate(deps: AdminDeps): Router {
  const { auth } = deps;
  const r = express.Router();
  r.use(async (req, res, next) => {
    const session = await auth.loadSession(cookies(req)[SESSION_COOKIE]);
    if (!session) {
      const nextPath = req.method === 'GET' ? `?next=${encodeURIComponent(req.originalUrl)}` : '';
      return res.redirect(303, `/admin/login${nextPath}`);
    }
    // Before anything of the page is set: another site's page is a bare 404, like one that does not exist.
    if (deps.network) await siteAccessGate(deps.network, req, res, session);
    res.locals.session = session;
    // Times in the site's WordPress time zone, UTC alongside.
    res.locals.h = viewHelpersFor(await deps.zones.current());
    res.locals.csrfToken = session.csrfToken;
    res.locals.notice = notice(req);
    res.locals.path = req.path;
    if (req.method === 'POST') {
      const token = asText((req.body as Record<string, unknown>)?._csrf);
      if (!token || !constantTimeEqual(token, session.csrfToken)) {
        return res.status(403).render('error', {
          title: 'Form expired',
          message: 'This form expired or did not come from this site. Go back, reload the page and try again.',
        });
      }
    }
    next();
  });

  r.post('/logout', async (_req, res) => {
    await auth.destroySession(res.locals.session as Session);
    res.clearCookie(SESSION_COOKIE, { path: sessionCookiePath(deps) });
    res.redirect(303, '/admin/login?notice=logged-out');
  });
  return r;
}

/** In a network, what the signed-in user may see, for the pages (the site switcher, the overview, network keys). */
export interface NetworkView {
  superAdmin: boolean;
  /** The site these pages are, or null for the network's own. */
  current: number | null;
  sites: { blogId: number; url: string }[];
}

/** The network view the gate set; undefined when one site is served. */
export const networkViewOf = (res: Response): NetworkView | undefined => res.locals.network as NetworkView | undefined;

/** One sign-in serves every site of a network, whose pages are under /sites/N/admin: the cookie covers them. */
const sessionCookiePath = (deps: AdminDeps) => (deps.network ? '/' : '/admin');

/**
 * In a network: a user who may not see this site gets the 404 a page that
 * does not exist gets (never 403: another site's pages and ids stay unknown);
 * one who may sees the sites they may switch to.
 */
async function siteAccessGate(
  network: NonNullable<AdminDeps['network']>,
  req: Request,
  res: Response,
  session: Session,
): Promise<void> {
  const access = await network.access.accessOf(session.userLabel);
  if (network.blogId !== null && !access.blogIds.has(network.blogId))
    throw new NotFoundError(`there is no page at ${req.originalUrl.split('?')[0]}`);
  res.locals.network = {
    superAdmin: access.superAdmin,
    current: network.blogId,
    sites: network.access.sites
      .served()
      .filter((s) => access.blogIds.has(s.blogId))
      .map((s) => ({ blogId: s.blogId, url: s.url })),
  } satisfies NetworkView;
}

function cookies(req: Request): Record<string, string | undefined> {
  return parseCookieHeader(req.headers.cookie ?? '');
}

function cookieOptions(req: Request, path: string) {
  return { httpOnly: true, sameSite: 'lax' as const, secure: req.secure, path };
}

function renderLogin(req: Request, res: Response, status: number, error: string | null) {
  const token = randomToken();
  res.cookie(LOGIN_CSRF_COOKIE, token, { ...cookieOptions(req, '/admin/login'), maxAge: 3600_000 });
  const body = req.body as Record<string, unknown> | undefined;
  // The user name typed is kept (it is escaped by the template); the password never is.
  const userName = typeof body?.username === 'string' ? body.username.slice(0, 200) : '';
  res.status(status).render('login', {
    title: 'Log in',
    csrfToken: token,
    error,
    notice: notice(req),
    userName,
    next: safeNext(req.query.next ?? body?.next),
  });
}

/** Only same-site admin paths (a network site's too): an open redirect would make the login page a phishing tool. */
function safeNext(v: unknown): string {
  const s = typeof v === 'string' ? v : '';
  return /^(\/sites\/\d{1,18})?\/admin(\/[A-Za-z0-9/_\-?=&%.]*)?$/.test(s) && !s.startsWith('//') ? s : '/admin';
}
