/** Operator actions on the settings every endpoint shares. */
import * as endpointsSql from '../db/endpoints.js';
import { ValidationError } from '../errors.js';
import type { Settings } from '../types.js';
import type { ServiceContext } from './context.js';

export function settingsOps(ctx: ServiceContext) {
  const { pool, t } = ctx;
  return {
    getSettings: async (): Promise<Settings> => {
      await ctx.deps.settings.refreshIfStale();
      return ctx.deps.settings.current();
    },
    /**
     * Saves settings. A change that silently switches delivery off for
     * someone is refused with what it would do, unless confirmed: an empty
     * retry schedule (no retries at all), and HTTPS only while endpoints use
     * http:// (their deliveries would fail as blocked).
     */
    async updateSettings(input: Partial<Settings> & { confirm?: boolean }): Promise<Settings> {
      const { confirm, ...patch } = input;
      if (Object.keys(patch).length === 0)
        throw new ValidationError('nothing to change: send at least one setting', 'body');
      await ctx.deps.settings.refreshIfStale();
      const now = ctx.deps.settings.current();
      if (!confirm) {
        const warnings: { field: string; message: string }[] = [];
        if (patch.retryScheduleSeconds?.length === 0 && now.retryScheduleSeconds.length > 0) {
          warnings.push({
            field: 'retry_schedule_seconds',
            message:
              'an empty retry schedule means a failed delivery is never retried: it fails for good at its first error. Confirm to save it',
          });
        }
        if (patch.httpsOnly === true && !now.httpsOnly) {
          const http = (await endpointsSql.listEndpointRoutes(pool, t)).filter((e) => e.url.startsWith('http:'));
          if (http.length) {
            warnings.push({
              field: 'https_only',
              message: `HTTPS only would block ${http.length} endpoint${http.length === 1 ? '' : 's'} that use${http.length === 1 ? 's' : ''} http:// (${http
                .slice(0, 5)
                .map((e) => `#${e.id} ${e.url}`)
                .join(
                  ', ',
                )}${http.length > 5 ? ', …' : ''}): their deliveries would fail as blocked. Change their URLs to https:// first, or confirm to save it`,
            });
          }
        }
        if (warnings.length)
          throw new ValidationError(warnings.map((w) => w.message).join('; '), warnings[0]!.field, warnings, {
            needsConfirm: true,
          });
      }
      return ctx.deps.settings.update(patch);
    },
  };
}
