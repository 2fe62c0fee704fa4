-- API keys: how programs reach the API besides API_TOKEN. Only a SHA-256 of
-- the key is kept (keys are 192 random bits, so a fast hash is enough and a
-- lookup is one index read); key_hint is what the admin shows (whk_…last 4).
-- scope: `full` or `hooks` (REST hook subscriptions and samples only).
CREATE TABLE IF NOT EXISTS `{prefix}webhook_api_keys` (
  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `name` VARCHAR(191) NOT NULL,
  `scope` VARCHAR(64) NOT NULL,
  `key_hash` CHAR(64) CHARACTER SET ascii NOT NULL,
  `key_hint` VARCHAR(16) NOT NULL,
  `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  `last_used_at` DATETIME(3) NULL,
  `revoked_at` DATETIME(3) NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_key_hash` (`key_hash`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The key that made an endpoint (a Zapier REST hook's subscription); NULL
-- for endpoints made by an operator.
ALTER TABLE `{prefix}webhook_endpoints` ADD COLUMN `api_key_id` BIGINT UNSIGNED NULL;
