// "New LMS Event": an instant trigger through REST hooks. Turning a Zap on
// subscribes its target URL for the chosen event type (or wildcard); the
// sidecar then POSTs each event's envelope to it, signed as any delivery;
// turning the Zap off unsubscribes. performList reads recent real events
// (or the catalog's examples) in exactly the shape a Zap receives.
const { baseUrl } = require('../authentication');

/** The sidecar's event catalog (GET /api/event-types), with each group's wildcard and `*`. */
const EVENT_CHOICES = {
  '*': 'Any LMS event',
  'student.*': 'Any student event',
  'student.registered': 'Student registered',
  'student.updated': 'Student updated',
  'student.deleted': 'Student deleted',
  'enrollment.*': 'Any enrollment event',
  'enrollment.created': 'Enrollment created',
  'enrollment.completed': 'Enrollment completed',
  'enrollment.expired': 'Enrollment expired',
  'order.*': 'Any order event',
  'order.created': 'Order created',
  'order.completed': 'Order completed',
  'order.refunded': 'Order refunded',
  'payment.*': 'Any payment event',
  'payment.completed': 'Payment completed',
  'payment.failed': 'Payment failed',
  'payment.refunded': 'Payment refunded',
  'subscription.*': 'Any subscription event',
  'subscription.created': 'Subscription created',
  'subscription.renewed': 'Subscription renewed',
  'subscription.cancelled': 'Subscription cancelled',
  'course.*': 'Any course event',
  'course.published': 'Course published',
  'course.updated': 'Course updated',
  'lesson.completed': 'Lesson completed',
  'quiz.submitted': 'Quiz submitted',
  'certificate.issued': 'Certificate issued',
};

const subscribeHook = async (z, bundle) => {
  const response = await z.request({
    url: `${baseUrl(bundle)}/api/hooks`,
    method: 'POST',
    body: { target_url: bundle.targetUrl, event: bundle.inputData.event },
  });
  return response.data; // { id, url, event }: Zapier keeps it as bundle.subscribeData
};

const unsubscribeHook = async (z, bundle) => {
  await z.request({ url: `${baseUrl(bundle)}/api/hooks/${bundle.subscribeData.id}`, method: 'DELETE' });
  return {};
};

// What the sidecar POSTed to the Zap's target URL: one event's envelope.
const perform = (z, bundle) => [bundle.cleanedRequest];

const performList = async (z, bundle) => {
  const response = await z.request({
    url: `${baseUrl(bundle)}/api/hooks/samples`,
    params: { event: bundle.inputData.event },
  });
  return response.data;
};

module.exports = {
  key: 'lms_event',
  noun: 'Event',
  display: {
    label: 'New LMS Event',
    description:
      'Triggers instantly when the LMS records an event: an enrollment, an order, a payment, a completion, a certificate…',
  },
  operation: {
    type: 'hook',
    inputFields: [
      { key: 'event', label: 'Event', required: true, choices: EVENT_CHOICES, default: 'enrollment.created' },
    ],
    performSubscribe: subscribeHook,
    performUnsubscribe: unsubscribeHook,
    perform,
    performList,
    sample: {
      id: 'evt_sample_enrollment_created',
      event: 'enrollment.created',
      created_at: '2025-03-20T10:30:00Z',
      data: {
        enrollment_id: 'enr_5501',
        student_id: 'student_xyz789',
        student_name: 'Ada Lovelace',
        course_id: 'course_abc123',
        course_title: 'Analytical Engines 101',
        source: 'order',
        order_id: 'order_9001',
      },
    },
  },
  EVENT_CHOICES,
};
