-- Endpoint options: filter, extra headers, auth, rate limit, per-endpoint
-- timeout and retry schedule, Ed25519 signing. JSON as TEXT, as `events`.
-- auth holds credentials and signing_key the Ed25519 private key (PKCS#8,
-- base64): stored like the secret, never shown or logged.
ALTER TABLE `{prefix}webhook_endpoints`
  ADD COLUMN `filter` TEXT NULL,
  ADD COLUMN `headers` TEXT NULL,
  ADD COLUMN `auth` TEXT NULL,
  ADD COLUMN `rate_limit_per_second` DOUBLE NULL,
  ADD COLUMN `timeout_seconds` DOUBLE NULL,
  ADD COLUMN `retry_schedule_seconds` TEXT NULL,
  ADD COLUMN `signing` VARCHAR(16) NOT NULL DEFAULT 'hmac',
  ADD COLUMN `signing_key` TEXT NULL,
  ADD COLUMN `public_key` VARCHAR(64) NULL;

-- Rate limits over every replica: when the endpoint's next request may
-- start. Claims take start times from it under its row lock (a pacing
-- scheduler: requests are spread 1/rate apart, so no second ever sees more
-- than the limit, unlike a fixed one-second counter that allows 2× across a
-- boundary). Its own table: a write per claim on the endpoint row would
-- bump updated_at.
CREATE TABLE IF NOT EXISTS `{prefix}webhook_rate_limits` (
  `endpoint_id` BIGINT UNSIGNED NOT NULL,
  `next_start_at` DATETIME(3) NOT NULL,
  PRIMARY KEY (`endpoint_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The event's ordering_key, kept with the event, so a backfill puts events
-- of an ordered endpoint in line like fan-out does.
ALTER TABLE `{prefix}webhook_events` ADD COLUMN `ordering_key` VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;

