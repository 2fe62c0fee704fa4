<?php
// Plays the LMS: loads WordPress through a site's own wp-config.php, loads the
// README's LMS-author snippet (lms_webhook_emit), and records events the way
// the README tells LMS authors to, inside the LMS's own transaction.
// Arguments: the wp-config.php path, the snippet file, a JSON job:
// {"time_zone": "+09:00", "events": [{"type":…, "data":…}], "business_table": "wp_lms_enrollments", "prefix": "wp_", "blog_id": 2}
// Prints {"results": [true|false…], "last_error": "…"} (the error of the last failed event).
$_SERVER['HTTP_HOST'] = 'localhost';
$_SERVER['REQUEST_URI'] = '/';
require $argv[1];
require $argv[2];
$job = json_decode($argv[3], true);
global $wpdb;
if (isset($job['prefix'])) $wpdb->set_prefix($job['prefix']);
// A network's site: its LMS runs with that site's prefix, as in a request to it.
if (isset($job['blog_id'])) switch_to_blog($job['blog_id']);
$wpdb->suppress_errors(true);
if (isset($job['time_zone'])) $wpdb->query($wpdb->prepare('SET time_zone = %s', $job['time_zone']));
$results = [];
$last_error = '';
foreach ($job['events'] as $e) {
  $wpdb->query('START TRANSACTION');
  // The business change the event describes, in the same transaction.
  $ok = false !== $wpdb->insert($job['business_table'], ['note' => $e['type']]);
  $ok = $ok && lms_webhook_emit($e['type'], $e['data']);
  if (!$ok) $last_error = $wpdb->last_error;
  $wpdb->query($ok ? 'COMMIT' : 'ROLLBACK');
  $results[] = $ok;
}
echo json_encode(['results' => $results, 'last_error' => $last_error]);
