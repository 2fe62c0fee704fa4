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
    course_id: 'course_abc123',
    source: 'order',
    order_id: 'order_9001',
  },
  'enrollment.completed': {
    enrollment_id: 'enr_5501',
    student_id: 'student_xyz789',
    course_id: 'course_abc123',
    completed_at: '2025-04-02T16:45:00Z',
    grade: 92,
  },
  'enrollment.expired': {
    enrollment_id: 'enr_5501',
    student_id: 'student_xyz789',
    course_id: 'course_abc123',
    expired_at: '2026-03-20T00:00:00Z',
  },
  'order.created': {
    order_id: 'order_9001',
    student_id: 'student_xyz789',
    items: [{ course_id: 'course_abc123', price: 4900 }],
    total: 4900,
    currency: 'EUR',
  },
  'order.completed': {
    order_id: 'order_9001',
    student_id: 'student_xyz789',
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
    plan_id: 'plan_monthly',
    status: 'active',
    current_period_end: '2025-04-20T10:30:00Z',
  },
  'subscription.renewed': {
    subscription_id: 'sub_301',
    student_id: 'student_xyz789',
    order_id: 'order_9010',
    current_period_end: '2025-05-20T10:30:00Z',
  },
  'subscription.cancelled': {
    subscription_id: 'sub_301',
    student_id: 'student_xyz789',
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
    student_id: 'student_xyz789',
    completed_at: '2025-03-22T18:05:00Z',
  },
  'quiz.submitted': {
    quiz_id: 'quiz_7',
    course_id: 'course_abc123',
    student_id: 'student_xyz789',
    score: 8,
    max_score: 10,
    passed: true,
  },
  'certificate.issued': {
    certificate_id: 'cert_2024_0042',
    course_id: 'course_abc123',
    student_id: 'student_xyz789',
    url: 'https://lms.example.com/certificates/cert_2024_0042',
  },
});
