-- Operational events: whether this failing episode was reported
-- (webhook.endpoint_failing once, webhook.endpoint_recovered when it ends),
-- and when an operator was last mailed about the endpoint (at most hourly).
ALTER TABLE `{prefix}webhook_endpoints`
  ADD COLUMN `failing_notified_at` DATETIME(3) NULL,
  ADD COLUMN `last_mailed_at` DATETIME(3) NULL;
