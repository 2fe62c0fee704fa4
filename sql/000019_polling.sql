-- Polling endpoints: the receiver pulls its events (GET /api/poll/:id) instead
-- of receiving POSTs. last_polled_at: when it last asked, for the endpoint
-- page and for reporting an endpoint nobody polls like a failing one.
ALTER TABLE `{prefix}webhook_endpoints` ADD COLUMN `last_polled_at` DATETIME(3) NULL;
