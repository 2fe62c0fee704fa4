/**
 * The event catalog, in one module: the known types by group, one line each
 * saying when it is sent, and an example `data` for each (GET
 * /api/event-types, the endpoint form, the demo and README "For LMS authors"
 * all read them here). The sidecar's own webhook.* events are described in
 * README "Operational events".
 */

/** The known event types, by group. */
export const EVENT_CATALOG: Readonly<Record<string, readonly string[]>> = Object.freeze({
  student: ['student.registered', 'student.updated', 'student.deleted'],
  enrollment: ['enrollment.created', 'enrollment.completed', 'enrollment.expired'],
  order: ['order.created', 'order.completed', 'order.refunded'],
  payment: ['payment.completed', 'payment.failed', 'payment.refunded'],
  subscription: ['subscription.created', 'subscription.renewed', 'subscription.cancelled'],
  course: ['course.published', 'course.updated'],
  learning: ['lesson.completed', 'quiz.submitted', 'certificate.issued'],
  webhook: [
    'webhook.test',
    'webhook.endpoint_failing',
    'webhook.endpoint_disabled',
    'webhook.endpoint_recovered',
    'webhook.delivery_failed',
  ],
});

/**
 * A realistic payload for every catalog event: what the demo writes, and
 * what README "For LMS authors" shows. Ids are strings, money is in minor
 * units with an ISO currency, times are RFC 3339 UTC.
 */
export const SAMPLE_PAYLOADS: Readonly<Record<string, Record<string, unknown>>> = Object.freeze({
  'student.registered': {
    student_id: 'student_xyz789',
    email: 'ada@example.com',
    name: 'Ada Lovelace',
    registered_at: '2025-03-20T10:30:00Z',
  },
  'student.updated': { student_id: 'student_xyz789', changed: ['email'], email: 'ada.lovelace@example.com' },
  'student.deleted': { student_id: 'student_xyz789', deleted_at: '2025-03-21T09:00:00Z' },
  'enrollment.created': {
    enrollment_id: 'enr_5501',
    student_id: 'student_xyz789',
    student_name: 'Ada Lovelace',
    course_id: 'course_abc123',
    course_title: 'Analytical Engines 101',
    source: 'order',
    order_id: 'order_9001',
  },
  'enrollment.completed': {
    enrollment_id: 'enr_5501',
    student_id: 'student_xyz789',
    student_name: 'Ada Lovelace',
    course_id: 'course_abc123',
    course_title: 'Analytical Engines 101',
    completed_at: '2025-04-02T16:45:00Z',
    grade: 92,
  },
  'enrollment.expired': {
    enrollment_id: 'enr_5501',
    student_id: 'student_xyz789',
    student_name: 'Ada Lovelace',
    course_id: 'course_abc123',
    course_title: 'Analytical Engines 101',
    expired_at: '2026-03-20T00:00:00Z',
  },
  'order.created': {
    order_id: 'order_9001',
    student_id: 'student_xyz789',
    student_name: 'Ada Lovelace',
    items: [{ course_id: 'course_abc123', price: 4900 }],
    total: 4900,
    currency: 'EUR',
  },
  'order.completed': {
    order_id: 'order_9001',
    student_id: 'student_xyz789',
    student_name: 'Ada Lovelace',
    total: 4900,
    currency: 'EUR',
    paid_at: '2025-03-20T10:31:12Z',
  },
  'order.refunded': {
    order_id: 'order_9001',
    refund_id: 'ref_12',
    amount: 4900,
    currency: 'EUR',
    reason: 'requested_by_customer',
  },
  'payment.completed': {
    payment_id: 'pay_7788',
    order_id: 'order_9001',
    amount: 4900,
    currency: 'EUR',
    gateway: 'stripe',
  },
  'payment.failed': {
    payment_id: 'pay_7789',
    order_id: 'order_9002',
    amount: 2900,
    currency: 'EUR',
    gateway: 'stripe',
    failure_code: 'card_declined',
  },
  'payment.refunded': { payment_id: 'pay_7788', refund_id: 'ref_12', amount: 4900, currency: 'EUR' },
  'subscription.created': {
    subscription_id: 'sub_301',
    student_id: 'student_xyz789',
    student_name: 'Ada Lovelace',
    plan_id: 'plan_monthly',
    status: 'active',
    current_period_end: '2025-04-20T10:30:00Z',
  },
  'subscription.renewed': {
    subscription_id: 'sub_301',
    student_id: 'student_xyz789',
    student_name: 'Ada Lovelace',
    order_id: 'order_9010',
    current_period_end: '2025-05-20T10:30:00Z',
  },
  'subscription.cancelled': {
    subscription_id: 'sub_301',
    student_id: 'student_xyz789',
    student_name: 'Ada Lovelace',
    cancelled_at: '2025-05-01T08:00:00Z',
    ends_at: '2025-05-20T10:30:00Z',
  },
  'course.published': {
    course_id: 'course_abc123',
    title: 'Analytical Engines 101',
    url: 'https://lms.example.com/courses/analytical-engines-101',
    published_at: '2025-03-01T12:00:00Z',
  },
  'course.updated': { course_id: 'course_abc123', changed: ['title'], title: 'Analytical Engines, an Introduction' },
  'lesson.completed': {
    lesson_id: 'lesson_42',
    course_id: 'course_abc123',
    course_title: 'Analytical Engines 101',
    student_id: 'student_xyz789',
    student_name: 'Ada Lovelace',
    completed_at: '2025-03-22T18:05:00Z',
  },
  'quiz.submitted': {
    quiz_id: 'quiz_7',
    course_id: 'course_abc123',
    course_title: 'Analytical Engines 101',
    student_id: 'student_xyz789',
    student_name: 'Ada Lovelace',
    score: 8,
    max_score: 10,
    passed: true,
  },
  'certificate.issued': {
    certificate_id: 'cert_2024_0042',
    course_id: 'course_abc123',
    course_title: 'Analytical Engines 101',
    student_id: 'student_xyz789',
    student_name: 'Ada Lovelace',
    url: 'https://lms.example.com/certificates/cert_2024_0042',
  },
});

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
  'webhook.endpoint_failing':
    "the sidecar's own: an endpoint has failed for an hour with no success, or its transformation failed 5 runs in a row",
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

/**
 * The shape of each type's `data`, as a compact spec turned into JSON
 * Schema (draft 2020-12) below: `id` a string id, `money` an integer in
 * minor units, `time` an RFC 3339 date-time, a trailing `?` optional.
 * Receivers may rely on the required fields; LMSs may add others
 * (additionalProperties stays open, so a newer LMS never fails here).
 */
type FieldKind =
  | 'id'
  | 'string'
  | 'email'
  | 'time'
  | 'url'
  | 'money'
  | 'currency'
  | 'integer'
  | 'number'
  | 'boolean'
  | 'strings'
  | 'items';
type FieldSpec = FieldKind | `${FieldKind}?`;

const who = { student_id: 'id', student_name: 'string?', student_email: 'email?' } as const;
const course = { course_id: 'id', course_title: 'string?' } as const;
const endpointFields = { endpoint_id: 'integer', url: 'url', description: 'string?' } as const;

const DATA_SPECS: Readonly<Record<string, Record<string, FieldSpec>>> = {
  'student.registered': { student_id: 'id', email: 'email', name: 'string?', registered_at: 'time?' },
  'student.updated': { student_id: 'id', changed: 'strings?', email: 'email?' },
  'student.deleted': { student_id: 'id', deleted_at: 'time?' },
  'enrollment.created': {
    enrollment_id: 'id?',
    ...who,
    ...course,
    source: 'string?',
    order_id: 'id?',
    amount: 'money?',
  },
  'enrollment.completed': {
    enrollment_id: 'id?',
    ...who,
    ...course,
    completed_at: 'time?',
    grade: 'number?',
    progress: 'number?',
  },
  'enrollment.expired': { enrollment_id: 'id?', ...who, ...course, expired_at: 'time?', reason: 'string?' },
  'order.created': { order_id: 'id', ...who, items: 'items?', total: 'money', currency: 'currency' },
  'order.completed': { order_id: 'id', student_id: 'id?', total: 'money', currency: 'currency', paid_at: 'time?' },
  'order.refunded': { order_id: 'id', refund_id: 'id?', amount: 'money', currency: 'currency', reason: 'string?' },
  'payment.completed': { payment_id: 'id', order_id: 'id?', amount: 'money', currency: 'currency', gateway: 'string?' },
  'payment.failed': {
    payment_id: 'id',
    order_id: 'id?',
    amount: 'money',
    currency: 'currency',
    gateway: 'string?',
    failure_code: 'string?',
  },
  'payment.refunded': { payment_id: 'id', refund_id: 'id?', amount: 'money', currency: 'currency' },
  'subscription.created': {
    subscription_id: 'id',
    ...who,
    plan_id: 'id?',
    status: 'string?',
    current_period_end: 'time?',
  },
  'subscription.renewed': { subscription_id: 'id', ...who, order_id: 'id?', current_period_end: 'time?' },
  'subscription.cancelled': { subscription_id: 'id', ...who, cancelled_at: 'time?', ends_at: 'time?' },
  'course.published': { course_id: 'id', title: 'string?', url: 'url?', published_at: 'time?' },
  'course.updated': { course_id: 'id', changed: 'strings?', title: 'string?' },
  'lesson.completed': { lesson_id: 'id', lesson_title: 'string?', ...course, ...who, completed_at: 'time?' },
  'quiz.submitted': {
    quiz_id: 'id',
    quiz_title: 'string?',
    ...course,
    ...who,
    score: 'number',
    max_score: 'number?',
    passed: 'boolean?',
  },
  'certificate.issued': { certificate_id: 'id', ...course, ...who, url: 'url?' },
  'webhook.test': { endpoint_id: 'integer', message: 'string', sent_at: 'time' },
  // Failing for an hour (failing_since), or its transformation failing (reason "transformation": how many runs, and when next).
  'webhook.endpoint_failing': {
    ...endpointFields,
    failing_since: 'time?',
    reason: 'string?',
    failures_in_a_row: 'integer?',
    retry_at: 'time?',
  },
  'webhook.endpoint_disabled': { ...endpointFields, reason: 'string', disabled_at: 'time' },
  'webhook.endpoint_recovered': { ...endpointFields, failing_since: 'time?', reason: 'string?', recovered_at: 'time' },
  'webhook.delivery_failed': {
    endpoint_id: 'integer',
    url: 'url',
    delivery_id: 'integer',
    event_id: 'string',
    event_type: 'string',
    attempts: 'integer',
    last_status_code: 'integer?',
    last_error: 'string?',
  },
};

function fieldSchema(kind: FieldKind): Record<string, unknown> {
  switch (kind) {
    case 'id':
      return { type: 'string', minLength: 1 };
    case 'email':
      return { type: 'string', format: 'email' };
    case 'time':
      return { type: 'string', format: 'date-time' };
    case 'url':
      return { type: 'string', format: 'uri' };
    case 'money':
      return { type: 'integer', description: 'minor units (cents)' };
    case 'currency':
      return { type: 'string', pattern: '^[A-Z]{3}$', description: 'ISO 4217' };
    case 'strings':
      return { type: 'array', items: { type: 'string' } };
    case 'items':
      return { type: 'array', items: { type: 'object' } };
    default:
      return { type: kind };
  }
}

/** The JSON Schema of one type's `data`. */
function dataSchema(spec: Record<string, FieldSpec>): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  for (const [name, field] of Object.entries(spec)) {
    const optional = field.endsWith('?');
    const kind = (optional ? field.slice(0, -1) : field) as FieldKind;
    // An optional field may be absent or null (an LMS without that value).
    const base = fieldSchema(kind);
    properties[name] = optional ? { ...base, type: [base.type as string, 'null'] } : base;
    if (!optional) required.push(name);
  }
  return { type: 'object', properties, required, additionalProperties: true };
}

/** Each catalog type's JSON Schema of `data`. */
export const EVENT_SCHEMAS: Readonly<Record<string, Record<string, unknown>>> = Object.freeze(
  Object.fromEntries(Object.entries(DATA_SPECS).map(([type, spec]) => [type, dataSchema(spec)])),
);

export interface CatalogEntry {
  type: string;
  group: string;
  description: string;
  example: Record<string, unknown>;
  /** JSON Schema of `data`. */
  schema: Record<string, unknown>;
}

export const CATALOG: readonly CatalogEntry[] = Object.entries(EVENT_CATALOG).flatMap(([group, types]) =>
  types.map((type) => ({
    type,
    group,
    description: EVENT_DESCRIPTIONS[type] ?? '',
    example: SAMPLE_PAYLOADS[type] ?? OWN_EXAMPLES[type] ?? {},
    schema: EVENT_SCHEMAS[type] ?? { type: 'object' },
  })),
);
