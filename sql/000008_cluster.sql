-- Attempts written twice must not appear twice: a recorder batch whose
-- commit was cut off by a lost connection (a database node dying) has an
-- unknown outcome and is written again; this key makes the repeat a no-op.
-- The worker is part of it: two processes may each make an attempt N of one
-- delivery when a lease ran out, and both are kept.
DELETE a FROM `{prefix}webhook_attempts` a
  JOIN `{prefix}webhook_attempts` b
    ON b.delivery_id = a.delivery_id AND b.attempt_no = a.attempt_no AND b.worker = a.worker AND b.id < a.id;
ALTER TABLE `{prefix}webhook_attempts` ADD UNIQUE KEY `uq_attempt` (`delivery_id`, `attempt_no`, `worker`);

-- Ordered delivery's lock, as a write: every change of a key's head takes
-- its endpoint's row here (a version bump) first. SELECT … FOR UPDATE locks
-- are per node on Galera; a write conflicts across nodes at certification,
-- so two nodes can never both admit a head.
CREATE TABLE IF NOT EXISTS `{prefix}webhook_line_locks` (
  `endpoint_id` BIGINT UNSIGNED NOT NULL,
  `version` BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (`endpoint_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
