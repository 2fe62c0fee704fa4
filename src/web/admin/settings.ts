/**
 * Delivery settings, with a confirmation step for changes that would switch
 * delivery off for someone.
 */
import express, { type Router } from 'express';
import * as schemas from '../../manage/schemas.js';
import { check } from '../../manage/schemas.js';
import { ValidationError } from '../../errors.js';
import type { Settings } from '../../types.js';
import { fieldErrors } from './helpers.js';
import type { AdminDeps } from './index.js';

export function settingsRouter(deps: AdminDeps): Router {
  const { service } = deps;
  const r = express.Router();
  r.get('/settings', async (_req, res) => {
    const s = await service.getSettings();
    res.render('settings', { title: 'Settings', values: settingsValues(s), errors: {}, needsConfirm: false });
  });

  r.post('/settings', async (req, res) => {
    const body = req.body as Record<string, unknown>;
    // Fields the form did not send keep their value; a field sent empty is validated as empty.
    const sent = SETTINGS_FIELDS.filter((f) => f in body);
    const values = { ...settingsValues(await service.getSettings()), ...Object.fromEntries(sent.map((f) => [f, String(body[f]).trim()])) };
    try {
      const patch = check<Partial<Settings>>(schemas.settingsPatch, toSettingsPatch(values, sent));
      await service.updateSettings({ ...patch, confirm: body.confirm === 'on' });
      res.redirect(303, '/admin/settings?notice=settings-saved');
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      // A change that needs confirming comes back with what it would do and a box to tick.
      res.status(400).render('settings', { title: 'Settings', values, errors: fieldErrors(err), needsConfirm: err.flags.needsConfirm === true });
    }
  });
  return r;
}

const SETTINGS_FIELDS = [
  'retry_schedule_seconds',
  'timeout_seconds',
  'retry_jitter_ratio',
  'retry_after_cap_seconds',
  'max_in_flight_per_endpoint',
  'auto_disable_after_hours',
  'retention_days',
  'response_body_max_bytes',
  'max_payload_bytes',
  'rotation_grace_hours',
  'https_only',
] as const;

function settingsValues(s: Settings): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of SETTINGS_FIELDS) {
    const v = s[f];
    out[f] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

function toSettingsPatch(values: Record<string, string>, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = values[f] ?? '';
    if (f === 'retry_schedule_seconds') out[f] = v === '' ? [] : v.split(/[\s,]+/).filter(Boolean).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
    else out[f] = v;
  }
  return out;
}
