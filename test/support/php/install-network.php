<?php
// Makes a WordPress multisite network with WordPress's own code (Debian's
// wordpress package), as Network Setup does. Arguments: "install" or "sites",
// then a JSON object (see test/support/network.ts).
//   install: wp_install() of the main site, then install_network() and
//            populate_network(): the network tables and the super admin.
//   sites:   run with MULTISITE on: sites made with wpmu_create_blog(), users
//            with wpmu_create_user() and add_user_to_blog(), flags with
//            update_blog_status(), sites deleted with wpmu_delete_blog(…, true).
// Prints what it made as JSON.
$phase = $argv[1];
$opts = json_decode($argv[2], true);
require __DIR__ . '/connect.php';
if ($phase === 'install') {
  define('WP_SITEURL', 'http://localhost');
  define('WP_HOME', 'http://localhost');
  define('WP_INSTALLING', true);
  define('WP_ALLOW_MULTISITE', true);
  require ABSPATH . 'wp-settings.php';
  require_once ABSPATH . 'wp-admin/includes/upgrade.php';
  require_once ABSPATH . 'wp-admin/includes/network.php';
  $r = wp_install('Network', $opts['admin']['login'], $opts['admin']['email'], true, '', $opts['admin']['password']);
  wp_set_current_user($r['user_id']);
  // A single site's $wpdb does not name the network tables yet (WP-CLI's multisite-convert does the same).
  foreach ($wpdb->tables('ms_global') as $table => $prefixed) $wpdb->$table = $prefixed;
  install_network();
  $err = populate_network(1, 'localhost', $opts['admin']['email'], 'Network', '/', false);
  if (is_wp_error($err)) { fwrite(STDERR, $err->get_error_message()); exit(1); }
  echo json_encode(['admin_id' => $r['user_id']]);
  exit(0);
}
define('MULTISITE', true);
define('SUBDOMAIN_INSTALL', false);
define('DOMAIN_CURRENT_SITE', 'localhost');
define('PATH_CURRENT_SITE', '/');
define('SITE_ID_CURRENT_SITE', 1);
define('BLOG_ID_CURRENT_SITE', 1);
require ABSPATH . 'wp-settings.php';
require_once ABSPATH . 'wp-admin/includes/admin.php';
require_once ABSPATH . 'wp-admin/includes/ms.php';
$out = ['sites' => [], 'users' => []];
foreach ($opts['sites'] ?? [] as $s) {
  $id = wpmu_create_blog('localhost', $s['path'], $s['title'], 1);
  if (is_wp_error($id)) { fwrite(STDERR, $id->get_error_message()); exit(1); }
  $out['sites'][$s['path']] = $id;
}
foreach ($opts['users'] ?? [] as $u) {
  $id = wpmu_create_user($u['login'], $u['password'], $u['email']);
  if (!$id) { fwrite(STDERR, "could not create user {$u['login']}"); exit(1); }
  foreach ($u['sites'] as $blog) add_user_to_blog($out['sites'][$blog] ?? (int) $blog, $id, $u['role']);
  if (!empty($u['super'])) grant_super_admin($id);
  $out['users'][$u['login']] = $id;
}
foreach ($opts['flags'] ?? [] as $f) update_blog_status($f['blog_id'], $f['flag'], $f['value']);
foreach ($opts['delete'] ?? [] as $blog) wpmu_delete_blog($blog, true);
echo json_encode($out);
