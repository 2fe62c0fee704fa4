-- Payload search, compact: one row per (event, searchable value) holding an
-- 8-byte term (the first 8 bytes of SHA-256 of "path NUL value") instead of
-- the path and value as text with a hidden row id and two indexes. About a
-- third of the bytes, and no copy of the payload's personal data in clear.
-- The primary key is in event order (appends; retention deletes a range);
-- idx_term answers "which events carry this value". A search for a term
-- another value shares (odds about 1 in 10^13 at ten million terms) could
-- show one unrelated delivery; nothing else depends on it.
CREATE TABLE IF NOT EXISTS `{prefix}webhook_event_terms` (
  `event_pk` BIGINT UNSIGNED NOT NULL,
  `term` BINARY(8) NOT NULL,
  PRIMARY KEY (`event_pk`, `term`),
  KEY `idx_term` (`term`, `event_pk`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT IGNORE INTO `{prefix}webhook_event_terms` (event_pk, term)
  SELECT event_pk, UNHEX(LEFT(SHA2(CONCAT(CAST(path AS BINARY), CHAR(0 USING binary), CAST(value AS BINARY)), 256), 16))
    FROM `{prefix}webhook_event_values`;

DROP TABLE IF EXISTS `{prefix}webhook_event_values`;
