/** What every admin page router is given: the service, sign-in, and the site's time zone. */
import type { Service } from '../../manage/service.js';
import type { AdminAuth, LoginThrottle } from '../../manage/adminAccess.js';
import type { SiteZone } from '../../wordpress/timeZone.js';
import type { NetworkAccess } from '../../network/access.js';

export interface AdminDeps {
  service: Service;
  auth: AdminAuth;
  throttle: LoginThrottle;
  zones: { current(): Promise<SiteZone> };
  /**
   * In network mode: who may see which site, and the site these pages are
   * (null for the network's own pages). A signed-in user who may not see it
   * gets the same 404 as for a page that does not exist.
   */
  network?: { access: NetworkAccess; blogId: number | null };
}
