/**
 * Endpoint filters: `{"all":[cond…]}` or `{"any":[cond…]}`, each condition a
 * dot path into the envelope, an operator and a value. Checked at fan-out, so
 * a filtered-out event makes no delivery at all. Pure.
 *
 * Comparisons are strict: "42" is not 42. gt/gte/lt/lte compare two numbers,
 * or two strings (so RFC 3339 UTC times compare as times); anything else does
 * not match. A path that is missing matches only `neq`, `nin` and
 * `exists: false`.
 */
import type { EndpointFilter, FilterCondition } from '../types.js';

export const FILTER_PATH_RE = /^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/;

const MISSING = Symbol('missing');

function at(envelope: unknown, path: string): unknown {
  let v: unknown = envelope;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object') return MISSING;
    if (Array.isArray(v)) {
      if (!/^\d+$/.test(part)) return MISSING;
      v = v[Number(part)];
    } else {
      if (!Object.prototype.hasOwnProperty.call(v, part)) return MISSING;
      v = (v as Record<string, unknown>)[part];
    }
    if (v === undefined) return MISSING;
  }
  return v;
}

function ordered(a: unknown, b: unknown): number | null {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  return null;
}

export function conditionMatches(c: FilterCondition, envelope: unknown): boolean {
  const v = at(envelope, c.path);
  switch (c.op) {
    case 'exists':
      return (v !== MISSING) === (c.value === undefined ? true : c.value === true);
    case 'eq':
      return v !== MISSING && v === c.value;
    case 'neq':
      return v === MISSING || v !== c.value;
    case 'in':
      return v !== MISSING && (c.value as unknown[]).includes(v);
    case 'nin':
      return v === MISSING || !(c.value as unknown[]).includes(v);
    default: {
      if (v === MISSING) return false;
      const d = ordered(v, c.value);
      if (d === null) return false;
      return c.op === 'gt' ? d > 0 : c.op === 'gte' ? d >= 0 : c.op === 'lt' ? d < 0 : d <= 0;
    }
  }
}

export function filterMatches(f: EndpointFilter, envelope: unknown): boolean {
  return 'all' in f
    ? f.all.every((c) => conditionMatches(c, envelope))
    : f.any.some((c) => conditionMatches(c, envelope));
}

/** What a condition's value must be for its operator; null when it is fine. */
export function valueProblem(c: { op: string; value?: unknown }): string | null {
  const scalar = (x: unknown) => x === null || ['string', 'number', 'boolean'].includes(typeof x);
  switch (c.op) {
    case 'exists':
      return c.value === undefined || typeof c.value === 'boolean' ? null : 'takes true, false or no value';
    case 'eq':
    case 'neq':
      return c.value !== undefined && scalar(c.value) ? null : 'takes a string, number, boolean or null value';
    case 'in':
    case 'nin':
      return Array.isArray(c.value) && c.value.length > 0 && c.value.length <= 100 && c.value.every(scalar)
        ? null
        : 'takes a list of 1 to 100 strings, numbers, booleans or nulls';
    default:
      return typeof c.value === 'number' || typeof c.value === 'string' ? null : 'takes a number or a string';
  }
}

const WORDS: Record<string, string> = {
  eq: 'is',
  neq: 'is not',
  in: 'is one of',
  nin: 'is none of',
  gt: 'is greater than',
  gte: 'is at least',
  lt: 'is less than',
  lte: 'is at most',
};

/** The filter in words, for the endpoint page: "data.course_id is "c1" and data.grade is at least 50". */
export function describeFilter(f: EndpointFilter): string {
  const conds = 'all' in f ? f.all : f.any;
  const one = (c: FilterCondition) => {
    if (c.op === 'exists') return `${c.path} ${c.value === false ? 'is missing' : 'is present'}`;
    const v = Array.isArray(c.value) ? c.value.map((x) => JSON.stringify(x)).join(', ') : JSON.stringify(c.value);
    return `${c.path} ${WORDS[c.op]} ${v}`;
  };
  return conds.map(one).join('all' in f ? ' and ' : ' or ');
}
