/**
 * The event catalog as operators read it: each type with one line saying
 * when it is sent and an example `data` (GET /api/event-types, the endpoint
 * form). LMS events' examples are the demo's payloads; the sidecar's own
 * webhook.* events are described in README "Operational events".
 */
import { EVENT_CATALOG } from './types.js';
import { SAMPLE_PAYLOADS } from './demo/catalog.js';

export const EVENT_DESCRIPTIONS: Readonly<Record<string, string>> = Object.freeze({
  'student.registered': 'a student account was created',
  'student.updated': "a student's profile changed (the fields in changed)",
  'student.deleted': 'a student account was deleted',
  'enrollment.created': 'a student was enrolled in a course (by an order, a subscription or an admin)',
  'enrollment.completed': 'a student completed a course, with the grade',
  'enrollment.expired': "a student's access to a course ended",
  'order.created': 'an order was placed',
  'order.completed': 'an order was paid',
  'order.refunded': 'an order was refunded, in full or in part',
  'payment.completed': 'a payment went through at the gateway',
  'payment.failed': 'a payment was declined or failed at the gateway',
  'payment.refunded': 'a payment was refunded at the gateway',
  'subscription.created': 'a subscription started',
  'subscription.renewed': 'a subscription was renewed for another period',
  'subscription.cancelled': 'a subscription was cancelled (it runs until ends_at)',
  'course.published': 'a course was published',
  'course.updated': "a course's details changed (the fields in changed)",
  'lesson.completed': 'a student completed a lesson',
  'quiz.submitted': 'a student submitted a quiz, with the score',
  'certificate.issued': 'a certificate was issued to a student',
  'webhook.test': 'sent by "Send test event" on an endpoint',
  'webhook.endpoint_failing': "the sidecar's own: an endpoint has failed for an hour with no success",
  'webhook.endpoint_disabled': "the sidecar's own: an endpoint was disabled (410, too long failing, or an operator)",
  'webhook.endpoint_recovered': "the sidecar's own: an endpoint that was reported failing succeeded again",
  'webhook.delivery_failed': "the sidecar's own: a delivery used up its retries",
});

const endpointExample = { endpoint_id: 3, url: 'https://crm.example.com/hooks/lms', description: 'CRM' };
const OWN_EXAMPLES: Readonly<Record<string, Record<string, unknown>>> = {
  'webhook.test': {
    endpoint_id: 3,
    message: 'Test event from the LMS webhooks sidecar',
    sent_at: '2025-03-20T10:30:00.000Z',
  },
  'webhook.endpoint_failing': { ...endpointExample, failing_since: '2025-03-20T09:12:00.000Z' },
  'webhook.endpoint_disabled': {
    ...endpointExample,
    reason: 'the endpoint answered 410 Gone',
    disabled_at: '2025-03-20T10:30:00.000Z',
  },
  'webhook.endpoint_recovered': {
    ...endpointExample,
    failing_since: '2025-03-20T09:12:00.000Z',
    recovered_at: '2025-03-20T10:30:00.000Z',
  },
  'webhook.delivery_failed': {
    endpoint_id: 3,
    url: 'https://crm.example.com/hooks/lms',
    delivery_id: 812,
    event_id: 'evt_…',
    event_type: 'order.completed',
    attempts: 6,
    last_status_code: 500,
    last_error: 'http_status: HTTP 500',
  },
};

export interface CatalogEntry {
  type: string;
  group: string;
  description: string;
  example: Record<string, unknown>;
}

export const CATALOG: readonly CatalogEntry[] = Object.entries(EVENT_CATALOG).flatMap(([group, types]) =>
  types.map((type) => ({
    type,
    group,
    description: EVENT_DESCRIPTIONS[type] ?? '',
    example: SAMPLE_PAYLOADS[type] ?? OWN_EXAMPLES[type] ?? {},
  })),
);
