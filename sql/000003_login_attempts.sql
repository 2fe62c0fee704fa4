-- Failed admin logins per client, counted in the database: the count is
-- taken atomically before the password is checked, so parallel guesses get
-- no more tries than the limit, on one replica or many.
CREATE TABLE IF NOT EXISTS `{prefix}webhook_login_attempts` (
  `key_hash` CHAR(64) NOT NULL,
  `tries` INT UNSIGNED NOT NULL,
  `window_started_at` DATETIME(3) NOT NULL,
  PRIMARY KEY (`key_hash`),
  KEY `idx_window` (`window_started_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
