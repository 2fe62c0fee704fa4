-- An endpoint whose transformation keeps failing backs off like a failing
-- receiver (src/delivery/transformBackoff.ts): transformation_failures counts
-- the runs in a row that failed (a run stopped at a limit counts as five);
-- from the fifth, its deliveries wait until
-- transformation_retry_at instead of each spending a worker on code that
-- fails. A run that works sets both back.
ALTER TABLE `{prefix}webhook_endpoints` ADD COLUMN `transformation_failures` INT NOT NULL DEFAULT 0;
ALTER TABLE `{prefix}webhook_endpoints` ADD COLUMN `transformation_retry_at` DATETIME(3) NULL;
