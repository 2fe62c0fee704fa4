-- Mutual TLS per endpoint: the client certificate and key the sidecar
-- presents, and a CA to trust the receiver's certificate by, as one JSON
-- object sealed like every secret (src/secrets.ts); NULL when not used.
ALTER TABLE `{prefix}webhook_endpoints` ADD COLUMN `tls` MEDIUMTEXT NULL;
