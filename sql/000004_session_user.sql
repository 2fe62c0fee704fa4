-- Who a session belongs to, shown on the pages: the sidecar's admin or a
-- WordPress administrator's login.
ALTER TABLE `{prefix}webhook_admin_sessions` ADD COLUMN `user_label` VARCHAR(255) NULL;
