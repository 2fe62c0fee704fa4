-- The request headers of an attempt, stored once where they repeat. What is
-- the same on every request to an endpoint (Content-Type, User-Agent, the
-- endpoint's own headers, the masked Authorization) is kept once here, by
-- the SHA-256 of its JSON; an attempt keeps only what is its own (timestamp
-- and signatures) and points at its set. The event's id and type headers
-- come from the event itself. Attempts written before keep their headers
-- whole (request_header_set NULL) until retention removes them.
CREATE TABLE IF NOT EXISTS `{prefix}webhook_header_sets` (
  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `hash` BINARY(32) NOT NULL,
  `headers` TEXT NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_hash` (`hash`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

ALTER TABLE `{prefix}webhook_attempts` ADD COLUMN `request_header_set` BIGINT UNSIGNED NULL;

-- uq_attempt (delivery_id, attempt_no, worker) answers every lookup by delivery.
ALTER TABLE `{prefix}webhook_attempts` DROP INDEX `idx_delivery`;
