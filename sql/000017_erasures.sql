-- Erasure (GDPR Art. 17): one row per request to erase the payloads of the
-- events matching a payload condition, kept as the record of who erased what
-- and when. It names the condition's paths (data.student_id), never its
-- values: those are kept sealed (src/secrets.ts) only while the request waits
-- for deliveries to be sent first, and the digest (an HMAC under the secrets
-- key) only recognises a repeated request. trigger_event_pk: the
-- student.deleted event an automatic erasure followed, at most one each.
CREATE TABLE IF NOT EXISTS `{prefix}webhook_erasures` (
  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `status` VARCHAR(16) NOT NULL,
  `pending_action` VARCHAR(8) NOT NULL,
  `paths` VARCHAR(1000) NOT NULL,
  `conditions_digest` BINARY(32) NOT NULL,
  `conditions_sealed` TEXT NULL,
  `up_to_event_pk` BIGINT UNSIGNED NOT NULL,
  `up_to_outbox_id` BIGINT UNSIGNED NOT NULL,
  `requested_by` VARCHAR(191) NOT NULL,
  `trigger_event_pk` BIGINT UNSIGNED NULL,
  `counts` TEXT NULL,
  `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  `completed_at` DATETIME(3) NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_trigger` (`trigger_event_pk`),
  KEY `idx_status` (`status`, `id`),
  KEY `idx_digest` (`conditions_digest`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
