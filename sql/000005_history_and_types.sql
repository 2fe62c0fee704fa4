-- One attempt numbering through every replay. A replay used to reset the
-- delivery's attempt counter, so a delivery listed two "attempt 1"s and its
-- counter stopped matching its attempts. Now the counter only grows;
-- retry_base is the counter at the last replay, so the retry schedule
-- starts again from its first delay without renumbering anything.
ALTER TABLE `{prefix}webhook_deliveries` ADD COLUMN `retry_base` INT UNSIGNED NOT NULL DEFAULT 0;

-- What started each attempt: first, retry or replay.
ALTER TABLE `{prefix}webhook_attempts` ADD COLUMN `started_by` VARCHAR(8) NULL;

-- Renumber the attempts already logged 1…n per delivery, in the order they were made.
UPDATE `{prefix}webhook_attempts` a
  JOIN (SELECT id, ROW_NUMBER() OVER (PARTITION BY delivery_id ORDER BY id) AS n FROM `{prefix}webhook_attempts`) x ON x.id = a.id
   SET a.attempt_no = x.n;

-- Keep each delivery's place in the retry schedule, then make the counter equal the list.
UPDATE `{prefix}webhook_deliveries` d
  JOIN (SELECT delivery_id, COUNT(*) AS n FROM `{prefix}webhook_attempts` GROUP BY delivery_id) c ON c.delivery_id = d.id
   SET d.retry_base = IF(c.n > d.attempts, c.n - d.attempts, 0);
UPDATE `{prefix}webhook_deliveries` d
  JOIN (SELECT delivery_id, COUNT(*) AS n FROM `{prefix}webhook_attempts` GROUP BY delivery_id) c ON c.delivery_id = d.id
   SET d.attempts = c.n;

-- Event types seen, answered from an index: a subscription to a type that is
-- neither in the catalog nor ever seen asks the operator to confirm it.
ALTER TABLE `{prefix}webhook_events` ADD KEY `idx_type` (`event_type`);
