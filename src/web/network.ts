/**
 * A WordPress network's web layer: one sign-in at /admin for every site, the
 * network overview there, and each served site's pages and API under
 * /sites/<blog id>/admin and /sites/<blog id>/api (/api stays the main
 * site's, so integrations made before the network was served keep working).
 *
 * Another site's pages and objects answer 404, exactly as ones that do not
 * exist: a site administrator learns nothing of the other sites, not even
 * which ids are taken.
 */
import express, { type Express, type Router } from 'express';
import type { NetworkAccess } from '../network/access.js';
import type { ServedSite } from '../network/registry.js';
import { keySite } from '../manage/apiKeyOps.js';
import { NotFoundError } from '../errors.js';
import type { KeyCheck } from './apiAuth.js';
import { networkAdminRouter, networkSiteAdminRouter } from './admin/index.js';
import { networkViewOf } from './admin/session.js';
import type { Service } from '../manage/service.js';
import type { AdminDeps } from './admin/deps.js';
import { adminStatic, noAdminPage, noApiRoute, siteApi } from './siteRoutes.js';
import { requireApiKey } from './apiAuth.js';

export interface NetworkDeps {
  /** The main site's service (the network's own pages read nothing else). */
  service: Service;
  apiToken: string | undefined;
  admin?: Omit<AdminDeps, 'service' | 'network'>;
  network: NetworkAccess;
}

export function mountNetwork(app: Express, deps: NetworkDeps): void {
  const { network } = deps;
  const sites = network.sites;
  const routers = new WeakMap<ServedSite, SiteRouters>();
  const routersOf = (site: ServedSite): SiteRouters => {
    let r = routers.get(site);
    if (!r) routers.set(site, (r = siteRouters(deps, site)));
    return r;
  };

  app.use('/sites/:blogId', (req, res, next) => {
    const raw = String(req.params.blogId);
    const blogId = /^[1-9]\d{0,17}$/.test(raw) ? Number(raw) : 0;
    res.locals.base = `/sites/${blogId || raw}`;
    const site = sites.get(blogId);
    (site ? routersOf(site).site : noSuchSite(deps, blogId))(req, res, next);
  });
  // The main site's API where a single site's was: its keys and hooks keep working.
  app.use('/api', (req, res, next) => {
    const main = sites.get(1);
    if (!main) return next(new NotFoundError('the network’s main site is not served'));
    res.locals.base = '/sites/1';
    routersOf(main).api(req, res, next);
  });
  if (deps.admin) {
    app.use('/admin/static', adminStatic());
    app.use(
      '/admin',
      networkAdminRouter(
        { ...deps.admin, service: deps.service, network: { access: network, blogId: null } },
        overviewRouter(network),
      ),
      noAdminPage,
    );
    app.get('/', (_req, res) => res.redirect(302, '/admin'));
  }
}

/**
 * Who a bearer token is on this site: API_TOKEN and `network` keys reach
 * every site; a site's key (`whk_s<id>_…`, or plain `whk_…` for the main
 * site) reaches its own. Another site's valid key is `elsewhere`: a 404.
 */
function authenticateFor(sites: NetworkAccess['sites'], blogId: number) {
  return async (token: string): Promise<KeyCheck> => {
    let owner = keySite(token) ?? 1;
    let found = (await sites.get(owner)?.service.authenticateKey(token)) ?? { principal: null, revoked: false };
    // A main site's key made before the network was served may begin like another site's.
    if (!found.principal && !found.revoked && owner !== 1) {
      const main = await sites.get(1)?.service.authenticateKey(token);
      if (main?.principal || main?.revoked) [owner, found] = [1, main];
    }
    if (!found.principal || owner === blogId) return found;
    if (found.principal.scope === 'network')
      // On another site the key owns nothing there (its REST hooks there answer to full keys, as API_TOKEN's do).
      return { principal: { keyId: null, name: found.principal.name, scope: 'network' }, revoked: false };
    return { principal: null, revoked: false, elsewhere: true };
  };
}

/** A served site's API, and the whole site (its API under /api, its pages under /admin). */
interface SiteRouters {
  api: Router;
  site: Router;
}

function siteRouters(deps: NetworkDeps, site: ServedSite): SiteRouters {
  const api = siteApi(deps.apiToken, site.service, authenticateFor(deps.network.sites, site.blogId));
  const r = express.Router();
  r.use('/api', api);
  if (deps.admin)
    r.use(
      '/admin',
      networkSiteAdminRouter({
        ...deps.admin,
        service: site.service,
        zones: site.zones,
        network: { access: deps.network, blogId: site.blogId },
      }),
      noAdminPage,
    );
  return { api, site: r };
}

/** A blog id that is not served: callers still sign in first, then get the 404 any unknown address gets. */
function noSuchSite(deps: NetworkDeps, blogId: number): Router {
  const r = express.Router();
  r.use('/api', requireApiKey(deps.apiToken, authenticateFor(deps.network.sites, blogId)), noApiRoute);
  if (deps.admin)
    r.use(
      '/admin',
      networkSiteAdminRouter({
        ...deps.admin,
        service: deps.service,
        network: { access: deps.network, blogId },
      }),
      noAdminPage,
    );
  return r;
}

/**
 * GET /admin: the sites this user may see, those with failing or disabled
 * endpoints first; a site administrator of one site goes straight to it.
 */
function overviewRouter(network: NetworkAccess): Router {
  const r = express.Router();
  r.get('/', async (_req, res) => {
    // The session gate in front of this page always sets it in a network.
    const shown = networkViewOf(res)!;
    if (!shown.superAdmin && shown.sites.length === 1)
      return res.redirect(303, `/sites/${shown.sites[0]!.blogId}/admin`);
    const rows = await Promise.all(
      shown.sites.map(async ({ blogId }) => {
        const site = network.sites.get(blogId);
        const trouble = site ? await site.service.troubledEndpoints().catch(() => []) : [];
        return { blogId, url: site?.url ?? '', trouble };
      }),
    );
    rows.sort((a, b) => b.trouble.length - a.trouble.length || a.blogId - b.blogId);
    res.render('network', {
      title: 'Network',
      rows,
      leftAlone: shown.superAdmin ? network.sites.leftAlone() : [],
    });
  });
  return r;
}
