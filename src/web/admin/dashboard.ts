/**
 * The dashboard: deliveries in the last 24 hours, an hourly chart drawn on
 * the server as SVG, and the endpoints that need attention.
 */
import express, { type Router } from 'express';
import type { AdminDeps } from './deps.js';

export function dashboardRouter(deps: AdminDeps): Router {
  const { service } = deps;
  const r = express.Router();
  r.get('/', async (_req, res) => {
    const [counts, now, hourly, latency, endpoints] = await Promise.all([
      service.countsByStatus24h(),
      service.queueNow(),
      service.hourly24h(),
      service.latency24h(),
      service.listEndpoints(),
    ]);
    const done = counts.succeeded + counts.failed;
    res.render('dashboard', {
      title: 'Dashboard',
      counts,
      now,
      successRate: done ? counts.succeeded / done : null,
      latency,
      chart: barChart(hourly),
      troubled: endpoints.filter((e) => !e.enabled || e.failingSince),
    });
  });
  return r;
}

export interface Bar {
  x: number;
  okHeight: number;
  otherHeight: number;
  label: string;
  title: string;
}

/** 24 hourly bars as SVG geometry: computed here so the template only draws. */
export function barChart(hourly: { hour: Date; succeeded: number; other: number }[], width = 720, height = 160) {
  const max = Math.max(1, ...hourly.map((h) => h.succeeded + h.other));
  const slot = width / hourly.length;
  const bars: Bar[] = hourly.map((h, i) => ({
    x: Math.round(i * slot + 2),
    okHeight: Math.round((h.succeeded / max) * (height - 20)),
    otherHeight: Math.round((h.other / max) * (height - 20)),
    label: i % 3 === 0 ? `${String(h.hour.getUTCHours()).padStart(2, '0')}h` : '',
    title: `${h.hour.toISOString().slice(0, 13).replace('T', ' ')}:00 UTC: ${h.succeeded} succeeded, ${h.other} other`,
  }));
  return { width, height, barWidth: Math.max(2, Math.floor(slot - 4)), bars, max };
}
