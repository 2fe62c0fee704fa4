/**
 * Sikshya LMS (1.0.x) as it ships writes no outbox; it keeps what the
 * catalog needs in its own tables. This module maps its writes to catalog
 * events as database triggers that insert into {prefix}webhook_outbox in
 * the same transaction as Sikshya's own write. Pure: it only builds SQL.
 *
 * Rules every trigger keeps, because it runs inside the LMS's transaction:
 * - it can never fail the write: a CONTINUE HANDLER swallows any error (a
 *   missing outbox is reported by the sidecar's capture check instead);
 * - it costs a bounded few primary-key lookups (the student in the users
 *   table, the course or lesson in the posts table) and one insert;
 * - times are the write's own instant in UTC (Sikshya stores site-local
 *   times written "now", so UTC_TIMESTAMP is the same moment with no zone
 *   to know); money is in minor units, ids are strings, as in the catalog;
 * - each event carries ordering_key student_<id>, so an ordered endpoint
 *   gets one student's events in order.
 *
 * A new LMS (LifterLMS, Tutor LMS, LearnDash) is another mapping like this
 * one: tables with the columns it reads, and triggers over them.
 */
export const SIKSHYA_CAPTURE_VERSION = 1;

/** The Sikshya tables and the columns the triggers read: checked at start, so a Sikshya upgrade that changes one is named. */
export const SIKSHYA_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  sikshya_enrollments: ['id', 'user_id', 'course_id', 'status', 'amount', 'payment_method', 'progress'],
  sikshya_progress: ['id', 'user_id', 'course_id', 'lesson_id', 'quiz_id', 'status'],
  sikshya_quiz_attempts: [
    'id',
    'user_id',
    'quiz_id',
    'course_id',
    'attempt_number',
    'score',
    'total_questions',
    'correct_answers',
    'status',
  ],
  sikshya_certificates: ['id', 'user_id', 'course_id', 'certificate_number', 'verification_code', 'download_url'],
  sikshya_orders: ['id', 'user_id', 'status', 'currency', 'subtotal', 'discount_total', 'total', 'gateway'],
  sikshya_payments: [
    'id',
    'user_id',
    'course_id',
    'amount',
    'currency',
    'payment_method',
    'transaction_id',
    'status',
    'refund_amount',
  ],
};

export interface TriggerSpec {
  /** {prefix}webhook_sikshya_<table>_<ai|au|ad>: ours by name, never Sikshya's. */
  name: string;
  table: string;
  timing: 'AFTER INSERT' | 'AFTER UPDATE' | 'AFTER DELETE';
  /** The CREATE TRIGGER statement. */
  sql: string;
}

/** What is known about the site when the triggers are built. */
export interface CaptureTarget {
  prefix: string;
  /** Whether the outbox has ordering_key (an outbox the LMS made may not). */
  orderingKey: boolean;
}

const NOW = `DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%dT%H:%i:%sZ')`;
const id = (col: string) => `CAST(${col} AS CHAR)`;
const minor = (col: string) => `CAST(ROUND(${col} * 100) AS SIGNED)`;

/** One event: an insert into the outbox; `row` is NEW or OLD. */
function emit(
  t: CaptureTarget,
  type: string,
  fields: [string, string][],
  row: 'NEW' | 'OLD' = 'NEW',
  key = `CONCAT('student_', ${row}.user_id)`,
): string {
  const json = `JSON_OBJECT(${fields.map(([k, v]) => `'${k}', ${v}`).join(', ')})`;
  return t.orderingKey
    ? `INSERT INTO \`${t.prefix}webhook_outbox\` (event_type, payload, ordering_key) VALUES ('${type}', ${json}, ${key});`
    : `INSERT INTO \`${t.prefix}webhook_outbox\` (event_type, payload) VALUES ('${type}', ${json});`;
}

/** The student: id, display name and e-mail (a primary-key lookup in the users table). */
function student(t: CaptureTarget, row: 'NEW' | 'OLD' = 'NEW'): [string, string][] {
  const users = `\`${t.prefix}users\``;
  return [
    ['student_id', id(`${row}.user_id`)],
    ['student_name', `(SELECT u.display_name FROM ${users} u WHERE u.ID = ${row}.user_id)`],
    ['student_email', `(SELECT u.user_email FROM ${users} u WHERE u.ID = ${row}.user_id)`],
  ];
}

/** A post's id and title under `name` (course, lesson, quiz). */
function post(t: CaptureTarget, name: string, col: string): [string, string][] {
  return [
    [`${name}_id`, id(col)],
    [`${name}_title`, `(SELECT p.post_title FROM \`${t.prefix}posts\` p WHERE p.ID = ${col})`],
  ];
}

function trigger(
  t: CaptureTarget,
  table: string,
  timing: TriggerSpec['timing'],
  body: string,
  as = table,
): TriggerSpec {
  const suffix = timing === 'AFTER INSERT' ? 'ai' : timing === 'AFTER UPDATE' ? 'au' : 'ad';
  const name = `${t.prefix}webhook_${as}_${suffix}`;
  return {
    name,
    table,
    timing,
    sql: `CREATE TRIGGER \`${name}\` ${timing} ON \`${t.prefix}${table}\` FOR EACH ROW
BEGIN
  -- LMS webhooks sidecar, Sikshya capture v${SIKSHYA_CAPTURE_VERSION}: never fails Sikshya's write.
  DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END;
${body
  .trim()
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
END`,
  };
}

function enrollmentFields(t: CaptureTarget, row: 'NEW' | 'OLD' = 'NEW'): [string, string][] {
  return [['enrollment_id', id(`${row}.id`)], ...student(t, row), ...post(t, 'course', `${row}.course_id`)];
}

/** Every trigger of the Sikshya capture, in install order. */
export function sikshyaTriggers(t: CaptureTarget): TriggerSpec[] {
  const enrollment = enrollmentFields(t);
  return [
    trigger(
      t,
      'sikshya_enrollments',
      'AFTER INSERT',
      emit(t, 'enrollment.created', [
        ...enrollment,
        ['source', `'sikshya'`],
        ['payment_method', `NULLIF(NEW.payment_method, '')`],
        ['amount', minor('NEW.amount')],
        ['enrolled_at', NOW],
      ]),
    ),
    trigger(
      t,
      'sikshya_enrollments',
      'AFTER UPDATE',
      `IF NEW.status <> OLD.status AND NEW.status = 'completed' THEN
  ${emit(t, 'enrollment.completed', [...enrollment, ['progress', 'NEW.progress'], ['completed_at', NOW]])}
ELSEIF NEW.status <> OLD.status AND NEW.status IN ('expired', 'cancelled') THEN
  ${emit(t, 'enrollment.expired', [...enrollment, ['reason', 'NEW.status'], ['expired_at', NOW]])}
END IF;`,
    ),
    trigger(
      t,
      'sikshya_enrollments',
      'AFTER DELETE',
      emit(
        t,
        'enrollment.expired',
        [...enrollmentFields(t, 'OLD'), ['reason', `'unenrolled'`], ['expired_at', NOW]],
        'OLD',
      ),
    ),
    ...progressTriggers(t),
    trigger(
      t,
      'sikshya_quiz_attempts',
      'AFTER UPDATE',
      `IF OLD.status = 'in_progress' AND NEW.status IN ('passed', 'completed', 'failed') THEN
  ${emit(t, 'quiz.submitted', [
    ['attempt_id', id('NEW.id')],
    ...post(t, 'quiz', 'NEW.quiz_id'),
    ...post(t, 'course', 'NEW.course_id'),
    ...student(t),
    ['attempt', 'NEW.attempt_number'],
    ['score', 'NEW.score'],
    ['max_score', '100'],
    ['passed', `JSON_EXTRACT(IF(NEW.status = 'passed', 'true', 'false'), '$')`],
    ['correct_answers', 'NEW.correct_answers'],
    ['total_questions', 'NEW.total_questions'],
    ['submitted_at', NOW],
  ])}
END IF;`,
    ),
    trigger(
      t,
      'sikshya_certificates',
      'AFTER INSERT',
      emit(t, 'certificate.issued', [
        ['certificate_id', id('NEW.id')],
        ['certificate_number', 'NEW.certificate_number'],
        ['verification_code', 'NEW.verification_code'],
        ...post(t, 'course', 'NEW.course_id'),
        ...student(t),
        ['url', `NULLIF(NEW.download_url, '')`],
        ['issued_at', NOW],
      ]),
    ),
    ...orderTriggers(t),
    ...paymentTriggers(t),
    courseTrigger(t),
  ];
}

/**
 * Courses are WordPress posts of type sik_course: published when a save
 * takes one to publish, updated on a later save of a published one. On
 * WordPress's own posts table, so every post save pays one comparison;
 * revisions and other post types stop there. Keyed per course.
 */
function courseTrigger(t: CaptureTarget): TriggerSpec {
  const course: [string, string][] = [
    ['course_id', id('NEW.ID')],
    ['title', 'NEW.post_title'],
    ['url', `REPLACE(NEW.guid, '&#038;', '&')`], // WordPress stores the guid HTML-escaped
  ];
  const key = `CONCAT('course_', NEW.ID)`;
  return trigger(
    t,
    'posts',
    'AFTER UPDATE',
    `IF NEW.post_type = 'sik_course' AND NEW.post_status = 'publish' THEN
  IF OLD.post_status <> 'publish' THEN
    ${emit(t, 'course.published', [...course, ['published_at', NOW]], 'NEW', key)}
  ELSE
    ${emit(t, 'course.updated', [...course, ['updated_at', NOW]], 'NEW', key)}
  END IF;
END IF;`,
    'sikshya_courses',
  );
}

/** A lesson is a completed progress row with a lesson and no quiz whose post is a sik_lesson (assignments share the column). */
function progressTriggers(t: CaptureTarget): TriggerSpec[] {
  const isLesson = `NEW.status = 'completed' AND NEW.lesson_id IS NOT NULL AND NEW.quiz_id IS NULL
    AND (SELECT p.post_type FROM \`${t.prefix}posts\` p WHERE p.ID = NEW.lesson_id) = 'sik_lesson'`;
  const event = emit(t, 'lesson.completed', [
    ...post(t, 'lesson', 'NEW.lesson_id'),
    ...post(t, 'course', 'NEW.course_id'),
    ...student(t),
    ['completed_at', NOW],
  ]);
  return [
    trigger(t, 'sikshya_progress', 'AFTER INSERT', `IF ${isLesson} THEN\n  ${event}\nEND IF;`),
    trigger(
      t,
      'sikshya_progress',
      'AFTER UPDATE',
      `IF OLD.status <> 'completed' AND ${isLesson} THEN\n  ${event}\nEND IF;`,
    ),
  ];
}

function orderTriggers(t: CaptureTarget): TriggerSpec[] {
  const order: [string, string][] = [
    ['order_id', id('NEW.id')],
    ...student(t),
    ['subtotal', minor('NEW.subtotal')],
    ['discount', minor('NEW.discount_total')],
    ['total', minor('NEW.total')],
    ['currency', 'NEW.currency'],
    ['gateway', `NULLIF(NEW.gateway, '')`],
  ];
  return [
    trigger(
      t,
      'sikshya_orders',
      'AFTER INSERT',
      emit(t, 'order.created', [...order, ['status', 'NEW.status'], ['created_at', NOW]]),
    ),
    trigger(
      t,
      'sikshya_orders',
      'AFTER UPDATE',
      `IF NEW.status <> OLD.status AND NEW.status IN ('paid', 'completed') THEN
  ${emit(t, 'order.completed', [...order, ['paid_at', NOW]])}
ELSEIF NEW.status <> OLD.status AND NEW.status = 'refunded' THEN
  ${emit(t, 'order.refunded', [...order, ['amount', minor('NEW.total')], ['refunded_at', NOW]])}
END IF;`,
    ),
  ];
}

function paymentTriggers(t: CaptureTarget): TriggerSpec[] {
  const payment: [string, string][] = [
    ['payment_id', id('NEW.id')],
    ...student(t),
    ...post(t, 'course', 'NEW.course_id'),
    ['amount', minor('NEW.amount')],
    ['currency', 'NEW.currency'],
    ['gateway', 'NEW.payment_method'],
    ['transaction_id', `NULLIF(NEW.transaction_id, '')`],
  ];
  const onStatus = (prefix: string) => `${prefix}IF NEW.status = 'completed' THEN
  ${emit(t, 'payment.completed', [...payment, ['paid_at', NOW]])}
ELSEIF NEW.status = 'failed' THEN
  ${emit(t, 'payment.failed', [...payment, ['failed_at', NOW]])}
ELSEIF NEW.status = 'refunded' THEN
  ${emit(t, 'payment.refunded', [...payment, ['refund_amount', minor('COALESCE(NEW.refund_amount, NEW.amount)')], ['refunded_at', NOW]])}
END IF;`;
  return [
    trigger(t, 'sikshya_payments', 'AFTER INSERT', onStatus('')),
    trigger(t, 'sikshya_payments', 'AFTER UPDATE', `IF NEW.status <> OLD.status THEN\n${onStatus('  ')}\nEND IF;`),
  ];
}
