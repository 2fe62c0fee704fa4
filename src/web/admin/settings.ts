/**
 * Delivery settings, with a confirmation step for changes that would switch
 * delivery off for someone.
 */
import express, { type Router } from 'express';
import * as schemas from '../../manage/schemas.js';
import { check } from '../../manage/schemas.js';
import { ValidationError } from '../../errors.js';
import { settingsFromWire, settingsToWire, type Settings } from '../../types.js';
import { plainErrors } from './messages.js';
import type { AdminDeps } from './deps.js';
import { adminHref } from './pageHelpers.js';

export function settingsRouter(deps: AdminDeps): Router {
  const { service } = deps;
  const r = express.Router();
  r.get('/settings', async (_req, res) => {
    const s = await service.getSettings();
    res.render('settings', {
      title: 'Settings',
      values: settingsValues(s),
      fields: SETTINGS_FORM,
      errors: {},
      needsConfirm: false,
    });
  });

  r.post('/settings', async (req, res) => {
    const body = req.body as Record<string, unknown>;
    // Fields the form did not send keep their value; a field sent empty is validated as empty.
    const sent = SETTINGS_FIELDS.filter((f) => f in body);
    const values = {
      ...settingsValues(await service.getSettings()),
      ...Object.fromEntries(sent.map((f) => [f, String(body[f]).trim()])),
    };
    try {
      const patch = check<Record<string, unknown>>(schemas.settingsPatch, toSettingsPatch(values, sent));
      await service.updateSettings({ ...settingsFromWire(patch), confirm: body.confirm === 'on' });
      res.redirect(303, adminHref(res, '/settings?notice=settings-saved'));
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      // A change that needs confirming comes back with what it would do and a box to tick.
      res.status(400).render('settings', {
        title: 'Settings',
        fields: SETTINGS_FORM,
        values,
        errors: plainErrors(err, SETTINGS_LABELS),
        needsConfirm: err.flags.needsConfirm === true,
      });
    }
  });
  return r;
}

/** The form's fields: label and hint, in order; the labels also name the fields in messages. */
export const SETTINGS_FORM: [string, string, string][] = [
  [
    'retry_schedule_seconds',
    'Retry schedule (seconds after each failed attempt)',
    'Comma-separated. The default 60, 300, 1800, 7200, 86400 is 1 min, 5 min, 30 min, 2 h, 24 h; its length is the number of retries.',
  ],
  ['timeout_seconds', 'Request timeout (seconds)', 'The whole request, connect to last byte.'],
  [
    'retry_jitter_ratio',
    'Jitter (fraction)',
    'Each delay is multiplied by a random factor within 1 ± this, so retries do not arrive as a wall.',
  ],
  [
    'retry_after_cap_seconds',
    'Longest Retry-After honoured (seconds)',
    'A 429 or 503 may ask for a later retry, up to this.',
  ],
  [
    'max_in_flight_per_endpoint',
    'Requests in flight per endpoint (per process)',
    'Keeps one slow receiver from using every connection.',
  ],
  [
    'max_deliveries_per_second',
    'Pace (deliveries per second, per process)',
    'Keeps a backlog from slowing the site: at 100/s a drain leaves the site’s own queries as fast as when idle. 0 = no cap.',
  ],
  [
    'auto_disable_after_hours',
    'Auto-disable after failing for (hours)',
    'An endpoint without a single success for this long is disabled; its events are kept, paused.',
  ],
  ['retention_days', 'Keep attempt logs and processed outbox rows for (days)', ''],
  [
    'response_body_max_bytes',
    'Response body kept per attempt (bytes)',
    '0 keeps none. Request bodies are the event envelope, kept once per event.',
  ],
  [
    'max_payload_bytes',
    'Largest outbox payload (bytes)',
    'Larger rows are rejected with the reason, shown under Events.',
  ],
  [
    'rotation_grace_hours',
    'Secret rotation grace period (hours)',
    'How long the previous secret keeps signing after a rotation.',
  ],
  [
    'erase_after_student_deleted_days',
    'Erase a deleted student’s payloads after (days)',
    'Once a student.deleted event has reached every endpoint, that student’s earlier payloads are erased after this many days (see Erasure). Empty: never.',
  ],
];

const SETTINGS_LABELS = {
  ...Object.fromEntries(SETTINGS_FORM.map(([name, label]) => [name, label.replace(/ \(.*\)$/, '')])),
  https_only: 'HTTPS only',
};

const SETTINGS_FIELDS = [
  'retry_schedule_seconds',
  'timeout_seconds',
  'retry_jitter_ratio',
  'retry_after_cap_seconds',
  'max_in_flight_per_endpoint',
  'max_deliveries_per_second',
  'auto_disable_after_hours',
  'retention_days',
  'response_body_max_bytes',
  'max_payload_bytes',
  'rotation_grace_hours',
  'erase_after_student_deleted_days',
  'https_only',
] as const;

function settingsValues(s: Settings): Record<string, string> {
  const wire = settingsToWire(s);
  const out: Record<string, string> = {};
  for (const f of SETTINGS_FIELDS) {
    const v = wire[f];
    out[f] = Array.isArray(v) ? v.join(', ') : ['string', 'number', 'boolean'].includes(typeof v) ? String(v) : '';
  }
  return out;
}

function toSettingsPatch(values: Record<string, string>, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = values[f] ?? '';
    if (f === 'retry_schedule_seconds')
      out[f] =
        v === ''
          ? []
          : v
              .split(/[\s,]+/)
              .filter(Boolean)
              .map((x) => (/^\d+$/.test(x) ? Number(x) : x));
    // An optional number left empty is "never".
    else if (f === 'erase_after_student_deleted_days') out[f] = v.trim() === '' ? null : v;
    else out[f] = v;
  }
  return out;
}
