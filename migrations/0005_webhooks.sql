-- Webhooks: an application's endpoints, the events it is told about, and every delivery attempt's outcome.

-- The signing secret must be usable (HMAC), so it is stored encrypted under the Worker secret WEBHOOK_KEY
-- (AES-256-GCM, bound to app and endpoint ids), never in clear and never hashed.
CREATE TABLE webhook_endpoints (
  id                 TEXT PRIMARY KEY,        -- whk_…
  app_id             TEXT NOT NULL REFERENCES applications(id),
  url                TEXT NOT NULL,
  description        TEXT,
  events             TEXT,                    -- JSON array of event types; NULL = every type
  secret_ciphertext  TEXT NOT NULL,           -- v1.<iv>.<ciphertext>, base64url
  -- After a rotation the old secret signs too (a second v1= entry) until it expires, so receivers can
  -- switch without dropping events.
  previous_secret_ciphertext  TEXT,
  previous_secret_expires_at  INTEGER,
  status             TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
  created_at         INTEGER NOT NULL,
  disabled_at        INTEGER
);
CREATE INDEX webhook_endpoints_app ON webhook_endpoints(app_id, status);

-- One row per event worth telling; payload is the exact JSON body every delivery of it sends.
CREATE TABLE webhook_events (
  id          TEXT PRIMARY KEY,               -- wev_…
  app_id      TEXT NOT NULL,
  type        TEXT NOT NULL,
  payload     TEXT NOT NULL,
  created_at  INTEGER NOT NULL
);

-- One row per (event, endpoint) hand-off, and one more per re-send. seq orders the delivery log.
CREATE TABLE webhook_deliveries (
  seq               INTEGER PRIMARY KEY AUTOINCREMENT,
  id                TEXT NOT NULL UNIQUE,     -- whd_…
  app_id            TEXT NOT NULL,
  event_id          TEXT NOT NULL REFERENCES webhook_events(id),
  endpoint_id       TEXT NOT NULL REFERENCES webhook_endpoints(id),
  status            TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'cancelled')),
  attempts          INTEGER NOT NULL DEFAULT 0,
  next_attempt_at   INTEGER,                  -- set while pending
  last_attempt_at   INTEGER,
  last_status_code  INTEGER,                  -- the receiver's HTTP status; NULL when it never answered
  last_error        TEXT,                     -- short reason when it never answered (timeout, refused)
  delivered_at      INTEGER,
  resent_from       TEXT,                     -- the delivery this one re-sends
  created_at        INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_app ON webhook_deliveries(app_id, seq);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(app_id, status, next_attempt_at);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(app_id, event_id, seq);
