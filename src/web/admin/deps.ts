/** What every admin page router is given: the service, sign-in, and the site's time zone. */
import type { Service } from '../../manage/service.js';
import type { AdminAuth, LoginThrottle } from '../../manage/adminAccess.js';
import type { SiteZone } from '../../wordpress/timeZone.js';

export interface AdminDeps {
  service: Service;
  auth: AdminAuth;
  throttle: LoginThrottle;
  zones: { current(): Promise<SiteZone> };
}
