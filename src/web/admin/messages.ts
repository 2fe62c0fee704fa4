/**
 * Validation errors in the words of the form that was filled in. The API
 * keeps joi's messages (they name JSON fields, which is what API callers
 * typed); a page says the same thing naming the field as its label does:
 * "Choose at least one event", not "events must contain at least 1 items".
 */
import type { ValidationDetail, ValidationError } from '../../errors.js';

/** Field name (the form's `name`, as the schema calls it) → its label on the page. */
export type Labels = Record<string, string>;

/** Where a date is typed, the one format every time on the pages is shown in. */
export const DATE_EXAMPLE = '2026-11-30 10:12';

/** joi details → { field: plain message }, the first per field, array items folded into their field. */
export function plainErrors(err: ValidationError, labels: Labels): Record<string, string> {
  const out: Record<string, string> = {};
  const details: ValidationDetail[] = err.details.length
    ? err.details
    : [{ field: err.field ?? 'form', message: err.message }];
  for (const d of details) {
    const field = fieldOf(d.field);
    out[field] ??= plainMessage({ ...d, field }, d.field, labels);
  }
  return out;
}

/** The same, as one sentence per problem, for a page with a single message box. */
export function plainSentence(err: ValidationError, labels: Labels): string {
  return Object.values(plainErrors(err, labels)).join(' ');
}

function fieldOf(path: string): string {
  return path.replace(/\.\d+$|\[\d+\]$/, '').split('.')[0]!;
}

function plainMessage(d: ValidationDetail, rawPath: string, labels: Labels): string {
  const label = labels[d.field] ?? d.field.replace(/_/g, ' ');
  const limit = d.context?.limit;
  const item = rawPath !== d.field && typeof d.context?.value === 'string' ? d.context.value : null;
  // A filter condition: which one, and which of its keys, as the JSON typed has them.
  const cond = /^filter\.(all|any)\.(\d+)(?:\.(\w+))?$/.exec(rawPath);
  if (cond) {
    const name = joiName(rawPath);
    const rest = (d.message.startsWith(name) ? d.message.slice(name.length) : ` ${d.message}`).replace(/^:?\s*/, '');
    return sentence(
      `${label}, condition ${Number(cond[2]) + 1} of "${cond[1]}": ${cond[3] ? `"${cond[3]}" ` : ''}${rest}`,
    );
  }
  const special = SPECIAL[`${d.field}:${d.type}`];
  if (special) return special(label, d);
  switch (d.type) {
    case 'any.required':
    case 'string.empty':
      return `Fill in ${label}.`;
    case 'array.min':
      return `${label}: choose at least ${String(limit)}.`;
    case 'array.max':
      return `${label}: at most ${String(limit)} can be given.`;
    case 'array.unique':
      return `${label} lists ${item ? `"${item}"` : 'the same entry'} twice.`;
    case 'date.base':
    case 'date.format':
      return `${label} must be a date and time written as ${DATE_EXAMPLE} (UTC).`;
    case 'string.uri':
    case 'string.uriCustomScheme':
      return `${label} must be a full web address starting with https:// or http://, such as https://crm.example.com/hooks/lms.`;
    case 'number.base':
      return rawPath !== d.field
        ? `${label} must be whole numbers separated by commas${item ? `; "${item}" is not one` : ''}.`
        : `${label} must be a number.`;
    case 'number.integer':
      return `${label} must be a whole number.`;
    case 'number.min':
      return `${label} must be ${String(limit)} or more.`;
    case 'number.greater':
      return `${label} must be more than ${String(limit)}.`;
    case 'number.max':
      return `${label} must be ${String(limit)} or less.`;
    case 'string.max':
      return `${label} can be at most ${String(limit)} characters long.`;
    case 'string.min':
      return `${label} must be at least ${String(limit)} characters long.`;
    case 'any.only':
      return `${label} must be one of: ${(d.context?.valids ?? []).map(String).join(', ')}.`;
    case 'object.unknown':
      return sentence(d.message);
    default:
      return sentence(relabel(d.message, rawPath, item ? `"${item}" under ${label}` : label));
  }
}

/** Messages that read better said for one field. */
const SPECIAL: Record<string, (label: string, d: ValidationDetail) => string> = {
  'events:array.min': () => 'Choose at least one event to send, or type one under "Other types or wildcards".',
  'events:any.required': () => 'Choose at least one event to send, or type one under "Other types or wildcards".',
  'events:string.pattern.base': (_l, d) =>
    `"${String(d.context?.value)}" is not an event type. Use names such as enrollment.created, wildcards such as forum.*, or * for every event; separate several with commas.`,
};

/** The message with the field's own name (as joi or our code wrote it, "events[1]", "since") replaced by the label. */
function relabel(message: string, rawPath: string, label: string): string {
  for (const name of [joiName(rawPath), rawPath, fieldOf(rawPath)]) {
    if (message.startsWith(name)) return label + message.slice(name.length);
  }
  return message;
}

/** A field path as joi names it in messages: filter.all.0.op → filter.all[0].op. */
function joiName(rawPath: string): string {
  return rawPath.replace(/\.(\d+)(?=\.|$)/g, '[$1]');
}

function sentence(s: string): string {
  const t = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(t) ? t : `${t}.`;
}
