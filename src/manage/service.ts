/**
 * What operators can do, shared by the JSON API and the admin pages: routes
 * validate input, call one of these, and render the result. Grouped by what
 * they act on (endpointOps, deliveryOps, settingsOps, reportOps) over one
 * shared context.
 */
import { erasureOps } from './erasureOps.js';
import { pollOps } from './pollOps.js';
import { createContext, type ServiceDeps } from './context.js';
import { endpointOps } from './endpointOps.js';
import { deliveryOps } from './deliveryOps.js';
import { settingsOps } from './settingsOps.js';
import { reportOps } from './reportOps.js';
import { chatOps } from './chatOps.js';
import { apiKeyOps } from './apiKeyOps.js';
import { captureOps } from './captureOps.js';
import { transformOps } from './transformOps.js';

export type { ServiceDeps } from './context.js';
export type { EndpointInput } from './endpointOps.js';

export type Service = ReturnType<typeof createService>;

export function createService(deps: ServiceDeps) {
  const ctx = createContext(deps);
  return {
    ...endpointOps(ctx),
    ...deliveryOps(ctx),
    ...settingsOps(ctx),
    ...reportOps(ctx),
    ...chatOps(ctx),
    ...apiKeyOps(ctx),
    ...captureOps(ctx),
    ...transformOps(ctx),
    ...erasureOps(ctx),
    ...pollOps(ctx),
  };
}
