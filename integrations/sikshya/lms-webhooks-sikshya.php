<?php
/**
 * Plugin Name: LMS webhooks for Sikshya
 * Description: Sends Sikshya LMS's enrolments, completions, lessons, quizzes, certificates and fulfilled orders to the LMS webhooks sidecar's outbox, for sites whose database user may not create triggers. Needs lms_webhook_emit() from the sidecar's README (paste it above this line, or keep it in another must-use plugin).
 * Version: 1.0.0
 * License: GPL-2.0-or-later
 *
 * Drop into wp-content/mu-plugins/. Each handler writes the same event, with
 * the same data, as the sidecar's database triggers write for the same
 * Sikshya change (`npm run capture -- install`); use one or the other, not
 * both. The triggers also see what Sikshya fires no action for (payment
 * rows, refunds, unenrolments, order creation); this plugin hears only
 * Sikshya's own actions.
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/** The student's id, display name and e-mail. */
function lms_webhooks_sikshya_student( $user_id ) {
	$user = get_userdata( (int) $user_id );
	return array(
		'student_id'    => (string) $user_id,
		'student_name'  => $user ? $user->display_name : null,
		'student_email' => $user ? $user->user_email : null,
	);
}

/** A post's id and title under $name (course, lesson, quiz). */
function lms_webhooks_sikshya_post( $name, $post_id ) {
	$title = get_post_field( 'post_title', (int) $post_id, 'raw' );
	return array(
		$name . '_id'    => (string) $post_id,
		$name . '_title' => ( '' === $title ) ? null : $title,
	);
}

/** Now in UTC, as the triggers write it. */
function lms_webhooks_sikshya_now() {
	return gmdate( 'Y-m-d\TH:i:s\Z' );
}

/** Money in minor units. */
function lms_webhooks_sikshya_minor( $amount ) {
	return (int) round( (float) $amount * 100 );
}

function lms_webhooks_sikshya_row( $table, $id ) {
	global $wpdb;
	return $wpdb->get_row( $wpdb->prepare( "SELECT * FROM {$wpdb->prefix}sikshya_{$table} WHERE id = %d", (int) $id ) );
}

/** One event for the student, in their order. */
function lms_webhooks_sikshya_emit( $event_type, $user_id, array $data ) {
	if ( ! function_exists( 'lms_webhook_emit' ) ) {
		return false;
	}
	return lms_webhook_emit( $event_type, $data, array( 'ordering_key' => 'student_' . (int) $user_id ) );
}

add_action(
	'sikshya_user_enrolled',
	function ( $user_id, $course_id, $enrollment_id = 0 ) {
		$row = lms_webhooks_sikshya_row( 'enrollments', $enrollment_id );
		lms_webhooks_sikshya_emit(
			'enrollment.created',
			$user_id,
			array( 'enrollment_id' => (string) $enrollment_id )
			+ lms_webhooks_sikshya_student( $user_id )
			+ lms_webhooks_sikshya_post( 'course', $course_id )
			+ array(
				'source'         => 'sikshya',
				'payment_method' => ( $row && '' !== (string) $row->payment_method ) ? $row->payment_method : null,
				'amount'         => $row ? lms_webhooks_sikshya_minor( $row->amount ) : 0,
				'enrolled_at'    => lms_webhooks_sikshya_now(),
			)
		);
	},
	10,
	3
);

add_action(
	'sikshya_course_completed',
	function ( $user_id, $course_id, $enrollment_id = 0 ) {
		$row = lms_webhooks_sikshya_row( 'enrollments', $enrollment_id );
		lms_webhooks_sikshya_emit(
			'enrollment.completed',
			$user_id,
			array( 'enrollment_id' => (string) $enrollment_id )
			+ lms_webhooks_sikshya_student( $user_id )
			+ lms_webhooks_sikshya_post( 'course', $course_id )
			+ array(
				'progress'     => $row ? (float) $row->progress : null,
				'completed_at' => lms_webhooks_sikshya_now(),
			)
		);
	},
	10,
	3
);

add_action(
	'sikshya_lesson_completed',
	function ( $user_id, $course_id, $lesson_id ) {
		lms_webhooks_sikshya_emit(
			'lesson.completed',
			$user_id,
			lms_webhooks_sikshya_post( 'lesson', $lesson_id )
			+ lms_webhooks_sikshya_post( 'course', $course_id )
			+ lms_webhooks_sikshya_student( $user_id )
			+ array( 'completed_at' => lms_webhooks_sikshya_now() )
		);
	},
	10,
	3
);

add_action(
	'sikshya_quiz_completed',
	function ( $user_id, $course_id, $quiz_id ) {
		global $wpdb;
		$attempt = $wpdb->get_row(
			$wpdb->prepare(
				"SELECT * FROM {$wpdb->prefix}sikshya_quiz_attempts WHERE user_id = %d AND quiz_id = %d ORDER BY id DESC LIMIT 1",
				(int) $user_id,
				(int) $quiz_id
			)
		);
		if ( ! $attempt ) {
			return;
		}
		lms_webhooks_sikshya_emit(
			'quiz.submitted',
			$user_id,
			array( 'attempt_id' => (string) $attempt->id )
			+ lms_webhooks_sikshya_post( 'quiz', $quiz_id )
			+ lms_webhooks_sikshya_post( 'course', $course_id )
			+ lms_webhooks_sikshya_student( $user_id )
			+ array(
				'attempt'         => (int) $attempt->attempt_number,
				'score'           => (float) $attempt->score,
				'max_score'       => 100,
				'passed'          => 'passed' === $attempt->status,
				'correct_answers' => (int) $attempt->correct_answers,
				'total_questions' => (int) $attempt->total_questions,
				'submitted_at'    => lms_webhooks_sikshya_now(),
			)
		);
	},
	10,
	3
);

add_action(
	'sikshya_certificate_issued',
	function ( $user_id, $course_id, $certificate_id ) {
		$row = lms_webhooks_sikshya_row( 'certificates', $certificate_id );
		if ( ! $row ) {
			return;
		}
		lms_webhooks_sikshya_emit(
			'certificate.issued',
			$user_id,
			array(
				'certificate_id'     => (string) $certificate_id,
				'certificate_number' => $row->certificate_number,
				'verification_code'  => $row->verification_code,
			)
			+ lms_webhooks_sikshya_post( 'course', $course_id )
			+ lms_webhooks_sikshya_student( $user_id )
			+ array(
				'url'       => ( '' === (string) $row->download_url ) ? null : $row->download_url,
				'issued_at' => lms_webhooks_sikshya_now(),
			)
		);
	},
	10,
	3
);

add_action(
	'sikshya_order_fulfilled',
	function ( $order_id ) {
		$order = lms_webhooks_sikshya_row( 'orders', $order_id );
		if ( ! $order ) {
			return;
		}
		lms_webhooks_sikshya_emit(
			'order.completed',
			$order->user_id,
			array( 'order_id' => (string) $order_id )
			+ lms_webhooks_sikshya_student( $order->user_id )
			+ array(
				'subtotal' => lms_webhooks_sikshya_minor( $order->subtotal ),
				'discount' => lms_webhooks_sikshya_minor( $order->discount_total ),
				'total'    => lms_webhooks_sikshya_minor( $order->total ),
				'currency' => $order->currency,
				'gateway'  => ( '' === (string) $order->gateway ) ? null : $order->gateway,
				'paid_at'  => lms_webhooks_sikshya_now(),
			)
		);
	},
	10,
	1
);
