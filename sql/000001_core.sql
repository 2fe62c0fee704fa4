-- Core schema. {prefix} is replaced by the validated TABLE_PREFIX; every
-- statement ends with a semicolon at the end of a line (the migrator splits there).

-- The LMS writes this table; we create it only when it is missing. Columns
-- after created_at are the sidecar's bookkeeping. payload is LONGTEXT, not
-- JSON: MariaDB's JSON adds CHECK(JSON_VALID()), which would make the LMS's
-- own transaction fail on a bad payload; we would rather reject the row and
-- show why than break the business change.
CREATE TABLE IF NOT EXISTS `{prefix}webhook_outbox` (
  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `event_type` VARCHAR(191) NOT NULL,
  `payload` LONGTEXT NOT NULL,
  `event_id` VARCHAR(64) NULL,
  `occurred_at` DATETIME(3) NULL,
  `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  `fanned_out_at` DATETIME(3) NULL,
  `rejected_reason` VARCHAR(500) NULL,
  `delivery_count` INT UNSIGNED NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_event_id` (`event_id`),
  KEY `idx_fanned_out` (`fanned_out_at`, `id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per accepted event: the exact envelope bytes that are signed and
-- sent, kept after the outbox row is pruned so deliveries can be replayed.
CREATE TABLE IF NOT EXISTS `{prefix}webhook_events` (
  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `event_id` VARCHAR(64) NOT NULL,
  `event_type` VARCHAR(191) NOT NULL,
  `outbox_id` BIGINT UNSIGNED NULL,
  `body` LONGTEXT NOT NULL,
  `occurred_at` DATETIME(3) NOT NULL,
  `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_event_id` (`event_id`),
  KEY `idx_created` (`created_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `{prefix}webhook_endpoints` (
  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `url` VARCHAR(2048) NOT NULL,
  `description` VARCHAR(500) NOT NULL DEFAULT '',
  `events` TEXT NOT NULL,
  `enabled` TINYINT(1) NOT NULL DEFAULT 1,
  `secret` VARCHAR(255) NOT NULL,
  `previous_secret` VARCHAR(255) NULL,
  `previous_secret_expires_at` DATETIME(3) NULL,
  `disabled_reason` VARCHAR(500) NULL,
  `disabled_at` DATETIME(3) NULL,
  `failing_since` DATETIME(3) NULL,
  `last_success_at` DATETIME(3) NULL,
  `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  `updated_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- status: pending (due at next_attempt_at), succeeded, failed (retries used
-- up), paused (endpoint disabled). A claimed delivery stays pending with
-- next_attempt_at pushed to its lease expiry and claim_token set: if the
-- process dies, the row simply becomes due again, with no sweeper to run.
CREATE TABLE IF NOT EXISTS `{prefix}webhook_deliveries` (
  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `endpoint_id` BIGINT UNSIGNED NOT NULL,
  `event_pk` BIGINT UNSIGNED NOT NULL,
  `event_type` VARCHAR(191) NOT NULL,
  `status` VARCHAR(16) NOT NULL,
  `attempts` INT UNSIGNED NOT NULL DEFAULT 0,
  `next_attempt_at` DATETIME(3) NULL,
  `claim_token` CHAR(24) NULL,
  `claimed_by` VARCHAR(100) NULL,
  `last_attempt_at` DATETIME(3) NULL,
  `last_status_code` SMALLINT NULL,
  `last_error` VARCHAR(1000) NULL,
  `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  `completed_at` DATETIME(3) NULL,
  PRIMARY KEY (`id`),
  KEY `idx_due` (`status`, `next_attempt_at`),
  KEY `idx_endpoint` (`endpoint_id`, `id`),
  KEY `idx_endpoint_status` (`endpoint_id`, `status`, `id`),
  KEY `idx_status` (`status`, `id`),
  KEY `idx_type` (`event_type`, `id`),
  KEY `idx_event` (`event_pk`),
  KEY `idx_created` (`created_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Every attempt, successful or not. The request body is the event's body
-- (identical bytes on every attempt), so only the headers are kept here.
CREATE TABLE IF NOT EXISTS `{prefix}webhook_attempts` (
  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `delivery_id` BIGINT UNSIGNED NOT NULL,
  `attempt_no` INT UNSIGNED NOT NULL,
  `started_at` DATETIME(3) NOT NULL,
  `duration_ms` INT UNSIGNED NOT NULL,
  `outcome` VARCHAR(16) NOT NULL,
  `status_code` SMALLINT NULL,
  `error_class` VARCHAR(32) NULL,
  `error_message` VARCHAR(1000) NULL,
  `request_url` VARCHAR(2048) NOT NULL,
  `request_headers` TEXT NOT NULL,
  `response_headers` TEXT NULL,
  `response_body` MEDIUMTEXT NULL,
  `worker` VARCHAR(100) NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_delivery` (`delivery_id`, `id`),
  KEY `idx_started` (`started_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS `{prefix}webhook_settings` (
  `name` VARCHAR(64) NOT NULL,
  `value` TEXT NOT NULL,
  `updated_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (`name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
