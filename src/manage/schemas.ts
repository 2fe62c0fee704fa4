/**
 * joi schemas for everything operators send: API bodies, form fields and
 * query strings share these, so a rule is written once. Unknown fields are
 * refused with their name rather than ignored.
 */
import Joi from 'joi';
import { EVENT_PATTERN_RE } from '../delivery/subscriptions.js';
import { DELIVERY_STATUSES } from '../types.js';
import { ValidationError } from '../errors.js';

const eventPattern = Joi.string()
  .max(191)
  .pattern(EVENT_PATTERN_RE)
  .messages({ 'string.pattern.base': '{{#label}} must be an event type such as enrollment.created, a wildcard such as enrollment.*, or *' });

const events = Joi.array().items(eventPattern).min(1).max(100).unique();
const url = Joi.string().trim().max(2048).uri({ scheme: ['http', 'https'] }).messages({
  'string.uriCustomScheme': '{{#label}} must be an http:// or https:// URL',
  'string.uri': '{{#label}} must be an absolute http:// or https:// URL',
});
const description = Joi.string().trim().max(500).allow('');
const customSecret = Joi.string()
  .min(16)
  .max(255)
  .pattern(/^[\x21-\x7e]+$/)
  .messages({ 'string.pattern.base': '{{#label}} may contain only printable ASCII without spaces' });

export const endpointCreate = Joi.object({
  url: url.required(),
  events: events.required(),
  description: description.default(''),
  enabled: Joi.boolean().default(true),
  secret: customSecret,
  ordered: Joi.boolean().default(false),
  /** Subscribe even to types neither in the catalog nor seen yet (the LMS will send them later). */
  confirm: Joi.boolean(),
});

export const endpointPatch = Joi.object({
  url,
  events,
  description,
  enabled: Joi.boolean(),
  ordered: Joi.boolean(),
  confirm: Joi.boolean(),
}).min(1);

export const rotateSecret = Joi.object({
  secret: customSecret,
  grace_hours: Joi.number().min(0).max(168),
});

export const replayFailed = Joi.object({
  since: Joi.date().iso().required(),
});

export const settingsPatch = Joi.object({
  retry_schedule_seconds: Joi.array().items(Joi.number().integer().min(1).max(7 * 86400)).max(20),
  retry_jitter_ratio: Joi.number().min(0).max(0.5),
  retry_after_cap_seconds: Joi.number().integer().min(0).max(7 * 86400),
  timeout_seconds: Joi.number().min(1).max(120),
  max_in_flight_per_endpoint: Joi.number().integer().min(1).max(256),
  max_payload_bytes: Joi.number().integer().min(1024).max(16 * 1024 * 1024),
  response_body_max_bytes: Joi.number().integer().min(0).max(64 * 1024),
  auto_disable_after_hours: Joi.number().min(1).max(24 * 365),
  rotation_grace_hours: Joi.number().min(0).max(168),
  retention_days: Joi.number().integer().min(1).max(3650),
  https_only: Joi.boolean(),
  /** Saves a change that switches delivery off for someone (no retries, blocked http:// endpoints). */
  confirm: Joi.boolean(),
}).min(1);

export const deliveryQuery = Joi.object({
  endpoint_id: Joi.number().integer().min(1),
  status: Joi.string().valid(...DELIVERY_STATUSES),
  event_type: Joi.string().max(191),
  event_id: Joi.string().max(64),
  since: Joi.date().iso(),
  until: Joi.date().iso(),
  before: Joi.number().integer().min(1),
  limit: Joi.number().integer().min(1).max(200).default(50),
});

const idParam = Joi.number().integer().min(1).max(Number.MAX_SAFE_INTEGER).required().label('id');

/** Validates and converts, or throws a ValidationError naming every bad field. */
export function check<T>(schema: Joi.Schema, input: unknown, what = 'body'): T {
  if (input === undefined || input === null || typeof input !== 'object' || Array.isArray(input)) {
    if (schema.type === 'object') throw new ValidationError(`${what} must be a JSON object`, what);
  }
  const { value, error } = schema.validate(input, { abortEarly: false, convert: true, errors: { wrap: { label: false } } });
  if (error) {
    const details = error.details.map((d) => ({ field: d.path.join('.') || what, message: d.message }));
    throw new ValidationError(details.map((d) => d.message).join('; '), details[0]?.field, details);
  }
  return value as T;
}

/** A numeric id from a route parameter, or a ValidationError naming `id`. */
export function parseId(raw: unknown): number {
  return check<number>(idParam, raw, 'id');
}
