/**
 * Checks an event's `data` against its catalog type's JSON Schema (ajv,
 * draft 2020-12, with formats). A mismatch never stops an event: LMS
 * versions drift, and nothing is dropped; it is counted and noted on the
 * outbox row so operators and LMS authors see it. Types outside the
 * catalog are not checked.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { ValidateFunction } from 'ajv';
import { EVENT_SCHEMAS } from '../catalog.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = addFormats(new Ajv2020({ allErrors: false, strict: false }));
const validators = new Map<string, ValidateFunction>(
  Object.entries(EVENT_SCHEMAS).map(([type, schema]) => [type, ajv.compile(schema)]),
);

/** Null when `data` fits its type's schema (or the type is not in the catalog); else what does not, in one line. */
export function dataProblem(eventType: string, data: unknown): string | null {
  const validate = validators.get(eventType);
  if (!validate || validate(data)) return null;
  const e = validate.errors?.[0];
  if (!e) return `data does not match the ${eventType} schema`;
  const where = `data${e.instancePath.replaceAll('/', '.')}`;
  const detail =
    e.keyword === 'required'
      ? `has no ${String((e.params as { missingProperty?: string }).missingProperty)}`
      : (e.message ?? 'is not valid');
  return `data does not match the ${eventType} schema: ${where} ${detail}; delivered anyway`;
}
