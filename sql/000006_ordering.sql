-- Ordered delivery per key. An endpoint with ordered = 1 sends the deliveries
-- that share an ordering_key one at a time, in outbox id order (seq).
-- status gains 'waiting': held behind the key's head, the one delivery of the
-- key that is pending (or paused). Only heads sit in idx_due, so held rows
-- cost the claim query nothing.
ALTER TABLE `{prefix}webhook_endpoints` ADD COLUMN `ordered` TINYINT(1) NOT NULL DEFAULT 0;

-- utf8mb4_bin: keys compare exactly as the LMS wrote them ("Student_42" and
-- "student_42" are two students), not case- or accent-folded.
ALTER TABLE `{prefix}webhook_deliveries`
  ADD COLUMN `ordering_key` VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  ADD COLUMN `seq` BIGINT UNSIGNED NULL,
  ADD KEY `idx_order` (`endpoint_id`, `ordering_key`, `status`, `seq`);
