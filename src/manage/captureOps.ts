/** Sikshya capture for the admin page: its state, install or upgrade, remove. */
import * as capture from '../capture/install.js';
import { ValidationError } from '../errors.js';
import type { ServiceContext } from './context.js';

export function captureOps(ctx: ServiceContext) {
  const { pool, t } = ctx;
  const asValidation = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof capture.CaptureError) throw new ValidationError(err.message, 'capture');
      throw err;
    }
  };
  return {
    captureStatus: () => capture.captureStatus(pool, t),
    installCapture: () => asValidation(() => capture.installCapture(pool, t)),
    removeCapture: () => asValidation(() => capture.removeCapture(pool, t)),
  };
}
