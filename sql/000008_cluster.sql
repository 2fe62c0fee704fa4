-- Attempts written twice must not appear twice: a recorder batch whose
-- commit was cut off by a lost connection (a database node dying) has an
-- unknown outcome and is written again; this key makes the repeat a no-op.
-- The worker is part of it: two processes may each make an attempt N of one
-- delivery when a lease ran out, and both are kept.
DELETE a FROM `{prefix}webhook_attempts` a
  JOIN `{prefix}webhook_attempts` b
    ON b.delivery_id = a.delivery_id AND b.attempt_no = a.attempt_no AND b.worker = a.worker AND b.id < a.id;
ALTER TABLE `{prefix}webhook_attempts` ADD UNIQUE KEY `uq_attempt` (`delivery_id`, `attempt_no`, `worker`);
