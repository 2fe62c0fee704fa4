/**
 * Sikshya capture: Sikshya 1.0.6's tables (test/fixtures), written the way
 * Sikshya writes them, reach a real receiver as catalog events with the
 * data a receiver needs; the triggers never fail Sikshya's write; their
 * state is reported and a changed column is named.
 */
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { useTestDb } from '../support/db.js';
import { testEnv, useSidecar } from '../support/sidecar.js';
import { createSikshyaTables } from '../support/sikshya.js';
import { waitFor } from '../support/wait.js';
import { execFileSync } from 'node:child_process';
import {
  captureStatus,
  checkCaptureAtStart,
  installCapture,
  removeCapture,
  privilegeProblem,
} from '../../src/capture/install.js';
import { tableNames } from '../../src/db/tables.js';

const CLI = fileURLToPath(new URL('../../src/capture/cli.js', import.meta.url));

interface Event {
  event: string;
  data: Record<string, unknown>;
}

describe('Sikshya capture', function () {
  this.timeout(60_000);
  const db = useTestDb('sikshya');
  const fx = useSidecar(db);
  const t = tableNames('wp_');
  const pool = () => db.get().pool;

  before(async () => {
    await createSikshyaTables(pool(), 'wp_');
    await pool().query(
      `INSERT INTO wp_users (ID, user_login, user_email, display_name) VALUES (7, 'priya', 'priya@example.com', 'Priya Sharma')`,
    );
    await pool().query(`INSERT INTO wp_posts (ID, post_title, post_type) VALUES
      (100, 'Complete Python Bootcamp', 'sik_course'), (101, 'Variables', 'sik_lesson'),
      (102, 'Basics quiz', 'sik_quiz'), (103, 'Write a loop', 'sik_assignment')`);
  });
  afterEach(() => fx.reset());

  it('reports Sikshya present with nothing installed, then installs every trigger', async () => {
    const before = await captureStatus(pool(), t);
    expect(before).to.include({ sikshya: true });
    expect(before.missingColumns).to.deep.equal([]);
    expect(before.triggers.every((x) => x.state === 'missing')).to.equal(true);
    expect(before.problems).to.deep.equal([]);
    const after = await installCapture(pool(), t);
    expect(after.triggers.map((x) => x.state)).to.deep.equal(Array(after.triggers.length).fill('installed'));
    expect(after.triggers.length).to.equal(12);
    expect(after.problems).to.deep.equal([]);
    // Installing again changes nothing.
    expect((await installCapture(pool(), t)).triggers.every((x) => x.state === 'installed')).to.equal(true);
  });

  it('turns enrolling, a lesson, a quiz, completing, a certificate, an order, a payment, refunds and unenrolling into catalog events', async () => {
    const receiver = await fx.receiver();
    await fx.endpoint(`${receiver.url}/sikshya`, ['*']);
    const q = (sql: string) => pool().query(sql);
    // As Sikshya's repositories write them (current_time('mysql') is site-local "now").
    await q(`INSERT INTO wp_sikshya_enrollments (user_id, course_id, status, enrolled_date, payment_method, amount, transaction_id, progress)
             VALUES (7, 100, 'enrolled', NOW(), 'stripe', 49.99, 'pi_1', 0)`);
    await q(`INSERT INTO wp_sikshya_progress (user_id, course_id, lesson_id, status, percentage, completed_date)
             VALUES (7, 100, 101, 'completed', 100.00, NOW())`);
    await q(`INSERT INTO wp_sikshya_progress (user_id, course_id, lesson_id, quiz_id, status, percentage, completed_date)
             VALUES (7, 100, 103, NULL, 'completed', 100.00, NOW())`); // an assignment: not a lesson
    await q(`INSERT INTO wp_sikshya_quiz_attempts (user_id, quiz_id, course_id, attempt_number, status, started_at)
             VALUES (7, 102, 100, 1, 'in_progress', NOW())`);
    await q(`UPDATE wp_sikshya_quiz_attempts SET score = 85.00, total_questions = 20, correct_answers = 17,
             status = 'passed', completed_at = NOW() WHERE user_id = 7 AND quiz_id = 102`);
    await q(
      `UPDATE wp_sikshya_enrollments SET progress = 100.00, status = 'completed', completed_date = NOW() WHERE user_id = 7`,
    );
    await q(`INSERT INTO wp_sikshya_certificates (user_id, course_id, certificate_number, issued_date, status, download_url, verification_code)
             VALUES (7, 100, 'SIK-2026-0042', NOW(), 'active', 'https://lms.example.com/cert/42', 'abc123')`);
    await q(`INSERT INTO wp_sikshya_orders (user_id, status, currency, subtotal, discount_total, total, gateway)
             VALUES (7, 'pending', 'EUR', 59.99, 10.00, 49.99, 'stripe')`);
    await q(`UPDATE wp_sikshya_orders SET status = 'paid' WHERE user_id = 7`);
    await q(`INSERT INTO wp_sikshya_payments (user_id, course_id, amount, currency, payment_method, transaction_id, status, payment_date)
             VALUES (7, 100, 49.99, 'EUR', 'stripe', 'ch_1', 'completed', NOW())`);
    await q(
      `UPDATE wp_sikshya_payments SET status = 'refunded', refund_amount = 49.99, refund_date = NOW() WHERE user_id = 7`,
    );
    await q(`UPDATE wp_sikshya_orders SET status = 'refunded' WHERE user_id = 7`);
    await q(`DELETE FROM wp_sikshya_enrollments WHERE user_id = 7`);
    // WordPress saves a course as a post: a draft, then published, then edited; other post types are left alone.
    await q(`INSERT INTO wp_posts (ID, post_title, post_type, post_status, guid) VALUES
             (110, 'Data Science 101', 'sik_course', 'draft', 'https://lms.example.com/?post_type=sik_course&#038;p=110'),
             (111, 'A blog post', 'post', 'draft', '')`);
    await q(`UPDATE wp_posts SET post_status = 'publish' WHERE ID IN (110, 111)`);
    await q(`UPDATE wp_posts SET post_title = 'Data Science, an Introduction' WHERE ID IN (110, 111)`);

    const types = [
      'enrollment.created',
      'lesson.completed',
      'quiz.submitted',
      'enrollment.completed',
      'certificate.issued',
      'order.created',
      'order.completed',
      'payment.completed',
      'payment.refunded',
      'order.refunded',
      'enrollment.expired',
      'course.published',
      'course.updated',
    ];
    await waitFor('every event', () => receiver.received.length >= types.length);
    const got = receiver.received
      .map((r) => r.json as unknown as Event)
      .sort((a, b) => types.indexOf(a.event) - types.indexOf(b.event));
    expect(got.map((e) => e.event).sort()).to.deep.equal([...types].sort());
    const by = (type: string) => got.find((e) => e.event === type)!.data;
    const who = { student_id: '7', student_name: 'Priya Sharma', student_email: 'priya@example.com' };
    const course = { course_id: '100', course_title: 'Complete Python Bootcamp' };
    const utc = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
    expect(by('enrollment.created')).to.deep.include({
      ...who,
      ...course,
      source: 'sikshya',
      payment_method: 'stripe',
      amount: 4999,
    });
    expect(by('enrollment.created').enrolled_at).to.match(utc);
    expect(by('lesson.completed')).to.deep.include({ ...who, ...course, lesson_id: '101', lesson_title: 'Variables' });
    expect(by('quiz.submitted')).to.deep.include({
      ...who,
      ...course,
      quiz_id: '102',
      quiz_title: 'Basics quiz',
      score: 85,
      max_score: 100,
      passed: true,
      correct_answers: 17,
      total_questions: 20,
    });
    expect(by('enrollment.completed')).to.deep.include({ ...who, ...course, progress: 100 });
    expect(by('certificate.issued')).to.deep.include({
      ...who,
      ...course,
      certificate_number: 'SIK-2026-0042',
      verification_code: 'abc123',
      url: 'https://lms.example.com/cert/42',
    });
    expect(by('order.created')).to.deep.include({
      ...who,
      subtotal: 5999,
      discount: 1000,
      total: 4999,
      currency: 'EUR',
      status: 'pending',
    });
    expect(by('order.completed')).to.deep.include({ total: 4999, currency: 'EUR' });
    expect(by('payment.completed')).to.deep.include({
      ...who,
      ...course,
      amount: 4999,
      currency: 'EUR',
      gateway: 'stripe',
      transaction_id: 'ch_1',
    });
    expect(by('payment.refunded')).to.deep.include({ refund_amount: 4999 });
    expect(by('order.refunded')).to.deep.include({ amount: 4999 });
    expect(by('enrollment.expired')).to.deep.include({ ...who, ...course, reason: 'unenrolled' });
    expect(by('course.published')).to.deep.equal({
      course_id: '110',
      title: 'Data Science 101',
      url: 'https://lms.example.com/?post_type=sik_course&p=110',
      published_at: by('course.published').published_at,
    });
    expect(by('course.updated')).to.deep.include({ course_id: '110', title: 'Data Science, an Introduction' });
    // One student's events share an ordering key; a course's share another.
    const [keys] = await pool().query<any[]>('SELECT DISTINCT ordering_key AS k FROM wp_webhook_outbox ORDER BY k');
    expect(keys.map((x: { k: string }) => x.k)).to.deep.equal(['course_110', 'student_7']);
  });

  it('never fails Sikshya’s write when the outbox is missing, and says so', async () => {
    await pool().query('RENAME TABLE wp_webhook_outbox TO wp_webhook_outbox_away');
    try {
      await pool().query(
        `INSERT INTO wp_sikshya_enrollments (user_id, course_id, status, enrolled_date) VALUES (8, 100, 'enrolled', NOW())`,
      );
      const [[row]] = await pool().query<any[]>('SELECT COUNT(*) AS n FROM wp_sikshya_enrollments WHERE user_id = 8');
      expect(row.n).to.equal(1);
      expect((await captureStatus(pool(), t)).problems).to.include(
        'the outbox table wp_webhook_outbox is missing: the capture triggers have nowhere to write, so Sikshya events are lost until the sidecar is started again (it creates the table)',
      );
    } finally {
      await pool().query('RENAME TABLE wp_webhook_outbox_away TO wp_webhook_outbox');
    }
  });

  it('names a column a Sikshya upgrade removed, and removes only our triggers', async () => {
    await pool().query('ALTER TABLE wp_sikshya_orders DROP COLUMN discount_total');
    try {
      const s = await captureStatus(pool(), t);
      expect(s.missingColumns).to.deep.equal(['sikshya_orders.discount_total']);
      expect(s.problems[0]).to.match(/no longer have sikshya_orders\.discount_total/);
    } finally {
      await pool().query(
        'ALTER TABLE wp_sikshya_orders ADD COLUMN discount_total decimal(12,2) NOT NULL DEFAULT 0.00 AFTER subtotal',
      );
    }
    expect(await removeCapture(pool(), t)).to.equal(12);
    const s = await captureStatus(pool(), t);
    expect(s.triggers.every((x) => x.state === 'missing')).to.equal(true);
    const [[row]] = await pool().query<any[]>('SELECT COUNT(*) AS n FROM wp_sikshya_orders');
    expect(row.n).to.equal(1);
  });

  it('runs from the shell: npm run capture -- status, install, remove', () => {
    const cli = (command: string) => {
      try {
        return {
          code: 0,
          out: execFileSync('node', [CLI, command], {
            env: { ...process.env, ...testEnv(db.get().url) },
            encoding: 'utf8',
          }),
        };
      } catch (err) {
        const e = err as { status: number; stdout: string; stderr: string };
        return { code: e.status, out: e.stdout + e.stderr };
      }
    };
    const installed = cli('install');
    expect(installed.code).to.equal(0);
    expect(installed.out.match(/^installed /gm)).to.have.length(12);
    expect(cli('status').out).to.include(
      'installed wp_webhook_sikshya_enrollments_ai (AFTER INSERT on sikshya_enrollments)',
    );
    expect(cli('remove').out).to.equal('removed 12 Sikshya capture triggers; Sikshya is unchanged\n');
    expect(cli('status').out.match(/^missing /gm)).to.have.length(12);
    const usage = cli('drop');
    expect(usage.code).to.equal(2);
    expect(usage.out).to.match(/usage: npm run capture -- status \| install \| remove/);
  });

  it('at start, upgrades outdated triggers, and drops those on a table that lost a column, naming it', async () => {
    await installCapture(pool(), t);
    // A trigger from another version.
    await pool().query('DROP TRIGGER wp_webhook_sikshya_orders_ai');
    await pool().query(
      "CREATE TRIGGER wp_webhook_sikshya_orders_ai AFTER INSERT ON wp_sikshya_orders FOR EACH ROW BEGIN DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END; INSERT INTO wp_webhook_outbox (event_type, payload) VALUES ('order.created', '{}'); END",
    );
    expect(
      (await captureStatus(pool(), t)).triggers.find((x) => x.name === 'wp_webhook_sikshya_orders_ai')!.state,
    ).to.equal('outdated');
    const lines: string[] = [];
    const log = {
      info: (m: string) => lines.push(m),
      warn: (m: string) => lines.push(m),
      error: (m: string) => lines.push(m),
    };
    await checkCaptureAtStart(pool(), t, log);
    expect((await captureStatus(pool(), t)).triggers.every((x) => x.state === 'installed')).to.equal(true);
    expect(lines).to.deep.equal(['Sikshya capture triggers brought up to this version']);

    await pool().query('ALTER TABLE wp_sikshya_payments DROP COLUMN refund_amount');
    try {
      lines.length = 0;
      await checkCaptureAtStart(pool(), t, log);
      expect(lines).to.have.length(1);
      expect(lines[0]).to.match(
        /no longer have sikshya_payments\.refund_amount.*triggers on sikshya_payments were removed/,
      );
      const s = await captureStatus(pool(), t);
      expect(s.triggers.filter((x) => x.state === 'missing').map((x) => x.table)).to.deep.equal([
        'sikshya_payments',
        'sikshya_payments',
      ]);
      await pool().query(
        "INSERT INTO wp_sikshya_payments (user_id, course_id, amount, payment_method, status, payment_date) VALUES (7, 100, 1, 'x', 'completed', NOW())",
      );
    } finally {
      await pool().query(
        'ALTER TABLE wp_sikshya_payments ADD COLUMN refund_amount decimal(10,2) NULL AFTER refund_date',
      );
      await removeCapture(pool(), t);
    }
  });

  it('measures what the trigger adds to an enrolment insert (figure printed, not asserted)', async () => {
    const insert = async (from: number, n: number) => {
      const started = process.hrtime.bigint();
      for (let i = 0; i < n; i++)
        await pool().query(
          `INSERT INTO wp_sikshya_enrollments (user_id, course_id, status, enrolled_date) VALUES (?, 100, 'enrolled', NOW())`,
          [from + i],
        );
      return Number(process.hrtime.bigint() - started) / 1e6 / n;
    };
    await removeCapture(pool(), t);
    const [[before]] = await pool().query<any[]>('SELECT COUNT(*) AS n FROM wp_webhook_outbox');
    const without = await insert(10_000, 300);
    await installCapture(pool(), t);
    const withTriggers = await insert(20_000, 300);
    const [[after]] = await pool().query<any[]>('SELECT COUNT(*) AS n FROM wp_webhook_outbox');
    expect(after.n - before.n, 'one outbox row per enrolment with the triggers, none without').to.equal(300);
    console.log(
      `      (enrolment insert: ${without.toFixed(3)} ms without the trigger, ${withTriggers.toFixed(3)} ms with it, over 300 each)`,
    );
  });

  it('says in one line what to grant when the TRIGGER privilege or SUPER with binary logging is missing', () => {
    expect(privilegeProblem({ errno: 1142, message: "TRIGGER command denied to user 'lms'@'localhost'" })).to.match(
      /GRANT TRIGGER ON/,
    );
    expect(
      privilegeProblem({ errno: 1419, message: 'You do not have the SUPER privilege and binary logging is enabled' }),
    ).to.match(/log_bin_trust_function_creators = 1/);
    expect(privilegeProblem({ errno: 1064, message: 'syntax' })).to.equal(null);
  });
});
