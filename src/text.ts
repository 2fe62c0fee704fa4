/**
 * A value from outside (a form field, a query parameter, a database column)
 * as text. Strings, numbers, booleans, bigints and dates as String() gives
 * them, Buffers decoded as UTF-8, lists joined with commas as String() joins
 * them; null, undefined and plain objects (which no form, query string or
 * column here yields) as `fallback`.
 */
export function asText(v: unknown, fallback = ''): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v instanceof Date) return String(v);
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (Array.isArray(v)) return v.map((x) => asText(x)).join(',');
  return fallback;
}
