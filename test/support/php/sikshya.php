<?php
// Plays Sikshya 1.0.6: loads WordPress through the site's wp-config.php and
// writes what Sikshya writes when a student enrols, completes a lesson,
// submits a quiz, completes the course, gets a certificate and an order is
// fulfilled (the same columns its repositories insert and update), then,
// when a must-use plugin file is given, fires the actions Sikshya fires after
// each write. Arguments: wp-config.php, the README snippet file, and the
// must-use plugin file or "-". Prints the ids used as JSON.
$_SERVER['HTTP_HOST'] = 'localhost';
$_SERVER['REQUEST_URI'] = '/';
require $argv[1];
require $argv[2];
if ($argv[3] !== '-') require $argv[3];
global $wpdb;
$p = $wpdb->prefix;

// The course, lesson and quiz posts and the student, made once (WordPress's own functions).
$make_post = function ($title, $type) {
  $found = get_page_by_title($title, OBJECT, $type);
  return $found ? (int) $found->ID : (int) wp_insert_post(['post_title' => $title, 'post_type' => $type, 'post_status' => 'publish']);
};
$course = $make_post('Complete Python Bootcamp', 'sik_course');
$lesson = $make_post('Variables', 'sik_lesson');
$quiz = $make_post('Basics quiz', 'sik_quiz');
$user = username_exists('priya') ?: wp_insert_user(['user_login' => 'priya', 'user_email' => 'priya@example.com', 'user_pass' => 'x-' . wp_generate_password(), 'display_name' => 'Priya Sharma']);

$now = current_time('mysql');
// EnrollmentRepository::create, then Enrollment fires sikshya_user_enrolled.
$wpdb->insert("{$p}sikshya_enrollments", ['user_id' => $user, 'course_id' => $course, 'status' => 'enrolled', 'enrolled_date' => $now, 'payment_method' => 'stripe', 'amount' => 49.99, 'transaction_id' => 'pi_1', 'progress' => 0.0]);
$enrollment = (int) $wpdb->insert_id;
do_action('sikshya_user_enrolled', $user, $course, $enrollment);
// ProgressRepository::markLessonComplete.
$wpdb->insert("{$p}sikshya_progress", ['user_id' => $user, 'course_id' => $course, 'lesson_id' => $lesson, 'status' => 'completed', 'percentage' => 100.0, 'completed_date' => $now]);
do_action('sikshya_lesson_completed', $user, $course, $lesson);
// QuizService: an attempt in progress, then submitted and scored.
$wpdb->insert("{$p}sikshya_quiz_attempts", ['user_id' => $user, 'quiz_id' => $quiz, 'course_id' => $course, 'attempt_number' => 1, 'status' => 'in_progress', 'started_at' => $now]);
$attempt = (int) $wpdb->insert_id;
$wpdb->update("{$p}sikshya_quiz_attempts", ['score' => 85.0, 'total_questions' => 20, 'correct_answers' => 17, 'status' => 'passed', 'completed_at' => $now], ['id' => $attempt]);
do_action('sikshya_quiz_completed', $user, $course, $quiz, 85.0);
// The course completed (EnrollmentRepository::update), a certificate issued (CertificateRepository::create).
$wpdb->update("{$p}sikshya_enrollments", ['progress' => 100.0, 'status' => 'completed', 'completed_date' => $now], ['id' => $enrollment]);
$wpdb->insert("{$p}sikshya_certificates", ['user_id' => $user, 'course_id' => $course, 'certificate_number' => 'SIK-2026-0042', 'issued_date' => $now, 'status' => 'active', 'download_url' => 'https://lms.example.com/cert/42', 'verification_code' => 'abc123']);
$certificate = (int) $wpdb->insert_id;
do_action('sikshya_course_completed', $user, $course, $enrollment);
do_action('sikshya_certificate_issued', $user, $course, $certificate);
// CheckoutService makes a pending order; OrderFulfillmentService marks it paid.
$wpdb->insert("{$p}sikshya_orders", ['user_id' => $user, 'status' => 'pending', 'currency' => 'EUR', 'subtotal' => 59.99, 'discount_total' => 10.0, 'total' => 49.99, 'gateway' => 'stripe']);
$order = (int) $wpdb->insert_id;
$wpdb->update("{$p}sikshya_orders", ['status' => 'paid'], ['id' => $order]);
do_action('sikshya_order_fulfilled', $order, $wpdb->get_row("SELECT * FROM {$p}sikshya_orders WHERE id = $order"));
echo json_encode(['user' => $user, 'course' => $course, 'enrollment' => $enrollment, 'order' => $order]);
