-- Per-endpoint transformations: JavaScript run in a sandbox at send time
-- (src/delivery/transform.ts). NULL: the request is sent as built.
ALTER TABLE `{prefix}webhook_endpoints` ADD COLUMN `transformation` MEDIUMTEXT NULL;
