/**
 * Operational events by e-mail (SMTP_URL, NOTIFY_EMAIL): plain text naming
 * the endpoint, what happened, since when, and the link to its page; at most
 * one mail per endpoint per hour over every replica (a slot taken in the
 * endpoint row). Sent after the events are committed, off the delivery
 * path: a mail server that is slow or down never holds delivery up, and a
 * failed mail is logged, not retried.
 */
import nodemailer from 'nodemailer';
import type { Pool } from 'mysql2/promise';
import type { Tables } from '../db/tables.js';
import type { Logger } from '../log.js';
import { claimMailSlot } from '../db/endpoints.js';
import { getOptions } from '../db/wordpress.js';
import { coerceError } from '../errors.js';
import type { OperationalNotice } from './operational.js';
import { asText } from '../text.js';

export interface NotifierConfig {
  smtpUrl: string;
  /** NOTIFY_EMAIL; when unset, the WordPress admin_email option. */
  notifyEmail?: string;
  /** Where the admin pages are, for links (http://host:port). */
  adminBaseUrl: () => string;
}

const SUBJECTS: Record<string, string> = {
  'webhook.endpoint_failing': 'is failing',
  'webhook.endpoint_disabled': 'was disabled',
  'webhook.endpoint_recovered': 'has recovered',
  'webhook.delivery_failed': 'gave up on a delivery',
};

export function mailText(n: OperationalNotice, adminBaseUrl: string): { subject: string; text: string } {
  const d = n.data;
  const name = asText(d.description) || asText(d.url);
  const lines = [`Endpoint ${n.endpointId} (${name}) ${SUBJECTS[n.type]}.`, ''];
  lines.push(`URL: ${asText(d.url)}`);
  if (d.failing_since) lines.push(`Failing since: ${asText(d.failing_since)}`);
  if (d.reason) lines.push(`Reason: ${asText(d.reason)}`);
  if (d.recovered_at) lines.push(`Recovered at: ${asText(d.recovered_at)}`);
  if (d.event_id)
    lines.push(
      `Event: ${asText(d.event_type)} ${asText(d.event_id)}, ${asText(d.attempts)} attempts, last error: ${asText(d.last_error, 'none')}`,
    );
  lines.push(
    '',
    `Endpoint page: ${adminBaseUrl}/admin/endpoints/${n.endpointId}`,
    '',
    `(${n.type}, event ${n.eventId}. At most one mail per endpoint per hour.)`,
  );
  return { subject: `[LMS webhooks] Endpoint ${n.endpointId} ${SUBJECTS[n.type]}`, text: lines.join('\n') };
}

export interface Notifier {
  notify(notices: OperationalNotice[]): void;
  /** Settles when the mails under way are done (for a clean stop). */
  idle(): Promise<void>;
}

export function createNotifier(pool: Pool, t: Tables, log: Logger, cfg: NotifierConfig): Notifier {
  const transport = nodemailer.createTransport(cfg.smtpUrl);
  const from = `LMS webhooks sidecar <webhooks@${new URL(cfg.smtpUrl).hostname || 'localhost'}>`;
  const running = new Set<Promise<void>>();

  async function recipient(): Promise<string | null> {
    if (cfg.notifyEmail) return cfg.notifyEmail;
    try {
      return (await getOptions(pool, t, ['admin_email'])).get('admin_email') ?? null;
    } catch {
      return null; // no WordPress options table here
    }
  }

  async function send(n: OperationalNotice): Promise<void> {
    const to = await recipient();
    if (!to) {
      log.warn(
        'an operational event could not be mailed: set NOTIFY_EMAIL (there is no WordPress admin_email to default to)',
        { event: n.type, endpoint_id: n.endpointId },
      );
      return;
    }
    if (!(await claimMailSlot(pool, t, n.endpointId))) return; // mailed about this endpoint within the hour
    const { subject, text } = mailText(n, cfg.adminBaseUrl());
    await transport.sendMail({ from, to, subject, text });
    log.info('operational event mailed', { event: n.type, endpoint_id: n.endpointId });
  }

  return {
    notify(notices) {
      for (const n of notices) {
        const p: Promise<void> = send(n)
          .catch((err: unknown) =>
            log.warn('mailing an operational event failed', {
              event: n.type,
              endpoint_id: n.endpointId,
              error: coerceError(err).message,
            }),
          )
          .finally(() => running.delete(p));
        running.add(p);
      }
    },
    idle: async () => {
      await Promise.allSettled([...running]);
    },
  };
}
