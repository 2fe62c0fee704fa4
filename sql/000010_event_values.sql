-- "Did student 42's enrollment go out?": the scalar fields of each event's
-- data (up to two levels deep, strings and numbers as text), so the log can
-- filter by payload (?data.student_id=student_42) through an index instead
-- of parsing every envelope. utf8mb4_bin: values match exactly as sent.
CREATE TABLE IF NOT EXISTS `{prefix}webhook_event_values` (
  `event_pk` BIGINT UNSIGNED NOT NULL,
  `path` VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `value` VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  KEY `idx_lookup` (`path`, `value`, `event_pk`),
  KEY `idx_event` (`event_pk`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
