-- API key life cycle (admin API) and the tamper-evident audit chain.

-- A key's operator-given name, its last characters (so a listing can tell keys apart without showing
-- them), and for a rotated key the end of its grace period and the key that replaced it.
ALTER TABLE api_keys ADD COLUMN name TEXT;
ALTER TABLE api_keys ADD COLUMN last_chars TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
ALTER TABLE api_keys ADD COLUMN replaced_by TEXT;

-- Each application's audit events form a hash chain in seq order. Rows are inserted unsealed (both
-- NULL); the application's AuditSealer object fills them in, oldest first (src/durable/auditSealer.ts).
-- hash = SHA-256 of the canonical event, which includes prev_hash (docs/storage.md).
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_events ADD COLUMN hash TEXT;
