<?php
// What the installer scripts set before loading WordPress: the server
// variables of a request to http://localhost/, and the database, prefix and
// ABSPATH from their JSON argument ($opts; see dbArgs in test/support/wordpress.ts).
$_SERVER['HTTP_HOST'] = 'localhost';
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['SERVER_PROTOCOL'] = 'HTTP/1.1';
define('DB_NAME', $opts['db_name']);
define('DB_USER', $opts['db_user']);
define('DB_PASSWORD', $opts['db_password']);
define('DB_HOST', $opts['db_host']);
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
define('ABSPATH', $opts['abspath']);
$table_prefix = $opts['prefix'];
