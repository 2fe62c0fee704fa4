-- Secrets at rest: secret and previous_secret hold values sealed with
-- AES-256-GCM (src/secrets.ts), which are longer than the 255 characters a
-- typed secret may have. The start seals the plain values already here.
ALTER TABLE `{prefix}webhook_endpoints`
  MODIFY `secret` VARCHAR(1024) NOT NULL,
  MODIFY `previous_secret` VARCHAR(1024) NULL;
