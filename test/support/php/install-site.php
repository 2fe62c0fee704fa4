<?php
// Installs a WordPress site into an existing database with WordPress's own
// code (Debian's wordpress package), then adds users and options. Argument:
// a JSON object (see test/support/wordpress.ts). Prints the user ids as JSON.
// Users with "hash" get their user_pass replaced by another scheme WordPress
// reads: "wp68" is what wp_hash_password() writes since WordPress 6.8.
$opts = json_decode($argv[1], true);
require __DIR__ . '/connect.php';
define('WP_SITEURL', 'http://localhost');
define('WP_HOME', 'http://localhost');
define('WP_INSTALLING', true);
require ABSPATH . 'wp-settings.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
$r = wp_install('LMS', $opts['admin']['login'], $opts['admin']['email'], true, '', $opts['admin']['password']);
$out = ['admin_id' => $r['user_id'], 'users' => []];
foreach ($opts['users'] as $u) {
  $id = wp_insert_user(['user_login' => $u['login'], 'user_email' => $u['email'], 'user_pass' => $u['password'], 'role' => $u['role']]);
  if (is_wp_error($id)) { fwrite(STDERR, $id->get_error_message()); exit(1); }
  $hash = null;
  switch ($u['hash'] ?? 'wordpress') {
    case 'wp68': $hash = '$wp' . password_hash(base64_encode(hash_hmac('sha384', $u['password'], 'wp-sha384', true)), PASSWORD_BCRYPT); break;
    case 'bcrypt': $hash = password_hash($u['password'], PASSWORD_BCRYPT); break;
    case 'md5': $hash = md5($u['password']); break;
  }
  if ($hash !== null) $wpdb->update($wpdb->users, ['user_pass' => $hash], ['ID' => $id]);
  $out['users'][$u['login']] = ['id' => $id, 'hash' => $hash ?? $wpdb->get_var($wpdb->prepare("SELECT user_pass FROM $wpdb->users WHERE ID = %d", $id))];
}
foreach ($opts['options'] as $k => $v) update_option($k, $v);
echo json_encode($out);
