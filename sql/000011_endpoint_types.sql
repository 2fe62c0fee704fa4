-- Endpoint types: `webhook` (the signed envelope) or a chat provider
-- (`slack`, `discord`, `teams`) whose body is a message rendered from a
-- template. templates: the endpoint's own templates by event type, JSON as
-- TEXT like `events`; NULL = the defaults for every type.
ALTER TABLE `{prefix}webhook_endpoints`
  ADD COLUMN `type` VARCHAR(16) NOT NULL DEFAULT 'webhook',
  ADD COLUMN `templates` MEDIUMTEXT NULL;
