/**
 * The default message of a chat endpoint (Slack, Discord, Teams) for each
 * catalog event, written for people. Mustache, logic-less: `{{name}}` is a
 * value of the event's `data` (escaped for the provider when rendered),
 * `{{#x}}…{{/x}}` shows its text only when x is set and `{{^x}}…{{/x}}` only
 * when it is not, so a payload without a name still reads well. No markup:
 * the same text is right on every provider.
 */
const STUDENT =
  '{{#student_name}}{{student_name}}{{/student_name}}{{^student_name}}Student {{student_id}}{{/student_name}}';
const COURSE =
  '{{#course_title}}{{course_title}}{{/course_title}}{{^course_title}}course {{course_id}}{{/course_title}}';
const MONEY = '{{#total}}{{total}}{{/total}}{{^total}}{{amount}}{{/total}} {{currency}} (minor units)';

export const DEFAULT_TEMPLATES: Readonly<Record<string, string>> = Object.freeze({
  'student.registered': `New student: {{#name}}{{name}}{{/name}}{{^name}}{{student_id}}{{/name}}{{#email}} ({{email}}){{/email}}`,
  'student.updated': `${STUDENT} updated their profile{{#changed.length}}: {{changed}}{{/changed.length}}`,
  'student.deleted': `Student account {{student_id}} was deleted`,
  'enrollment.created': `${STUDENT} enrolled in ${COURSE}`,
  'enrollment.completed': `${STUDENT} completed ${COURSE}{{#grade}} with a grade of {{grade}}{{/grade}}`,
  'enrollment.expired': `${STUDENT}'s access to ${COURSE} ended`,
  'order.created': `New order {{order_id}} from ${STUDENT}: ${MONEY}`,
  'order.completed': `Order {{order_id}} was paid: ${MONEY}`,
  'order.refunded': `Order {{order_id}} was refunded: ${MONEY}{{#reason}} ({{reason}}){{/reason}}`,
  'payment.completed': `Payment {{payment_id}} for order {{order_id}} went through: ${MONEY}{{#gateway}} via {{gateway}}{{/gateway}}`,
  'payment.failed': `Payment {{payment_id}} for order {{order_id}} failed{{#failure_code}} ({{failure_code}}){{/failure_code}}: ${MONEY}`,
  'payment.refunded': `Payment {{payment_id}} was refunded: ${MONEY}`,
  'subscription.created': `${STUDENT} subscribed to {{plan_id}}`,
  'subscription.renewed': `${STUDENT}'s subscription {{subscription_id}} was renewed until {{current_period_end}}`,
  'subscription.cancelled': `${STUDENT} cancelled subscription {{subscription_id}}; it runs until {{ends_at}}`,
  'course.published': `New course published: {{title}}{{#url}} {{url}}{{/url}}`,
  'course.updated': `Course {{#title}}{{title}}{{/title}}{{^title}}{{course_id}}{{/title}} was updated`,
  'lesson.completed': `${STUDENT} completed {{#lesson_title}}{{lesson_title}}{{/lesson_title}}{{^lesson_title}}lesson {{lesson_id}}{{/lesson_title}} in ${COURSE}`,
  'quiz.submitted': `${STUDENT} submitted {{#quiz_title}}{{quiz_title}}{{/quiz_title}}{{^quiz_title}}quiz {{quiz_id}}{{/quiz_title}}: {{score}}/{{max_score}}{{#passed}}, passed{{/passed}}`,
  'certificate.issued': `${STUDENT} earned a certificate for ${COURSE}{{#url}}: {{url}}{{/url}}`,
  'webhook.test': `Test message from the LMS webhooks sidecar: this channel will receive its events.`,
  'webhook.endpoint_failing': `Endpoint {{endpoint_id}} ({{url}}) has been failing since {{failing_since}}`,
  'webhook.endpoint_disabled': `Endpoint {{endpoint_id}} ({{url}}) was disabled: {{reason}}`,
  'webhook.endpoint_recovered': `Endpoint {{endpoint_id}} ({{url}}) is delivering again`,
  'webhook.delivery_failed': `A {{event_type}} delivery to endpoint {{endpoint_id}} failed after {{attempts}} attempts: {{last_error}}`,
});

/** For types outside the catalog: which event it was, so the channel still learns something happened. */
export const FALLBACK_TEMPLATE = 'LMS event {{event.type}} ({{event.id}})';
