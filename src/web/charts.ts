/**
 * Small server-rendered SVG charts (no client JavaScript). Only numbers and
 * dates we format go into the markup, so it is safe to include unescaped.
 */
import type { StatsBucket } from '../manage/reportOps.js';

const W = 560;
const H = 120;
const PAD_BOTTOM = 18;

/** Attempts per bucket as bars, successes green over failures red, with a title per bar for screen readers and hover. */
export function attemptsChart(buckets: readonly StatsBucket[], unit: 'hour' | 'day'): string {
  const max = Math.max(1, ...buckets.map((b) => b.attempts));
  const bw = W / Math.max(1, buckets.length);
  const label = (d: Date) => (unit === 'day' ? d.toISOString().slice(5, 10) : `${d.toISOString().slice(11, 13)}h`);
  const bars = buckets
    .map((b, i) => {
      const x = (i * bw + 1).toFixed(1);
      const w = Math.max(1, bw - 2).toFixed(1);
      const hOk = ((b.successes / max) * (H - PAD_BOTTOM)).toFixed(1);
      const hBad = ((b.failures / max) * (H - PAD_BOTTOM)).toFixed(1);
      const yOk = (H - PAD_BOTTOM - Number(hOk)).toFixed(1);
      const yBad = (Number(yOk) - Number(hBad)).toFixed(1);
      const title = `${b.start
        .toISOString()
        .slice(0, unit === 'day' ? 10 : 13)
        .replace(
          'T',
          ' ',
        )}${unit === 'hour' ? ':00' : ''} UTC: ${b.attempts} attempts, ${b.successes} succeeded, ${b.failures} failed${b.p95Ms !== null ? `, p50 ≤ ${b.p50Ms} ms, p95 ≤ ${b.p95Ms} ms` : ''}`;
      const every = Math.ceil(buckets.length / 8);
      const tick = i % every === 0 ? `<text x="${x}" y="${H - 4}">${label(b.start)}</text>` : '';
      return `<g><title>${title}</title><rect x="${x}" y="${yOk}" width="${w}" height="${hOk}" class="chart__ok"/><rect x="${x}" y="${yBad}" width="${w}" height="${hBad}" class="chart__bad"/>${tick}</g>`;
    })
    .join('');
  const total = buckets.reduce((a, b) => a + b.attempts, 0);
  const ok = buckets.reduce((a, b) => a + b.successes, 0);
  const summary =
    total === 0 ? 'No attempts in this period.' : `${((ok / total) * 100).toFixed(1)}% of ${total} attempts succeeded.`;
  return `<svg class="stats-chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="Attempts per ${unit}: ${summary}" preserveAspectRatio="none">${bars}</svg>`;
}
