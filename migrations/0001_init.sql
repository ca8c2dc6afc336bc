-- Core schema. Every table that holds tenant data carries app_id, and every query filters by it.
-- Times are unix milliseconds (INTEGER); the API renders them as ISO-8601 UTC.

CREATE TABLE applications (
  id          TEXT PRIMARY KEY,            -- app_…
  name        TEXT NOT NULL,
  created_at  INTEGER NOT NULL
);

CREATE TABLE api_keys (
  id          TEXT PRIMARY KEY,            -- key_…
  app_id      TEXT NOT NULL REFERENCES applications(id),
  key_hash    TEXT NOT NULL UNIQUE,        -- hex SHA-256 of the whole key; the key itself is never stored
  prefix      TEXT NOT NULL,               -- first characters, so an operator can tell keys apart
  created_at  INTEGER NOT NULL,
  revoked_at  INTEGER
);
CREATE INDEX api_keys_app ON api_keys(app_id);

CREATE TABLE enrollments (
  id            TEXT PRIMARY KEY,          -- enr_…
  app_id        TEXT NOT NULL REFERENCES applications(id),
  user_id       TEXT NOT NULL,
  user_label    TEXT,
  code_hash     TEXT NOT NULL UNIQUE,      -- hex SHA-256 of the single-use enrollment code
  status        TEXT NOT NULL CHECK (status IN ('pending', 'claimed', 'completed', 'cancelled')),
  device_id     TEXT,                      -- the device that claimed the code (set once, by the winner)
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL,
  completed_at  INTEGER
);
CREATE INDEX enrollments_app ON enrollments(app_id, created_at);

CREATE TABLE devices (
  id             TEXT PRIMARY KEY,         -- dev_…
  app_id         TEXT NOT NULL REFERENCES applications(id),
  user_id        TEXT NOT NULL,
  enrollment_id  TEXT NOT NULL REFERENCES enrollments(id),
  name           TEXT,
  platform       TEXT,
  key_format     TEXT NOT NULL CHECK (key_format IN ('ecies-p256', 'rsa-oaep-sha1', 'rsa-oaep-sha256')),
  public_key     TEXT NOT NULL,            -- canonical JWK (JSON)
  token_hash     TEXT NOT NULL UNIQUE,     -- hex SHA-256 of the device token
  status         TEXT NOT NULL CHECK (status IN ('pending', 'active', 'revoked')),
  created_at     INTEGER NOT NULL,
  activate_by    INTEGER NOT NULL,         -- a pending device must prove possession before this
  activated_at   INTEGER,
  revoked_at     INTEGER,
  last_seen_at   INTEGER
);
CREATE INDEX devices_user ON devices(app_id, user_id, status);

CREATE TABLE challenges (
  id              TEXT PRIMARY KEY,        -- chl_…
  app_id          TEXT NOT NULL REFERENCES applications(id),
  user_id         TEXT NOT NULL,
  status          TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'cancelled', 'failed')),
  context         TEXT NOT NULL,           -- JSON shown on the device
  created_at      INTEGER NOT NULL,
  expires_at      INTEGER NOT NULL,
  resolved_at     INTEGER,
  device_id       TEXT,                    -- the device that answered
  reason          TEXT
);
CREATE INDEX challenges_app ON challenges(app_id, created_at);

-- One row per device a challenge was encrypted to: what the device fetches.
CREATE TABLE challenge_deliveries (
  challenge_id  TEXT NOT NULL REFERENCES challenges(id),
  device_id     TEXT NOT NULL REFERENCES devices(id),
  ciphertext    TEXT NOT NULL,             -- base64url
  PRIMARY KEY (device_id, challenge_id)
);

-- Append-only. seq orders events and is the pagination cursor; id is the public identifier.
CREATE TABLE audit_events (
  seq            INTEGER PRIMARY KEY AUTOINCREMENT,
  id             TEXT NOT NULL UNIQUE,     -- evt_…
  app_id         TEXT NOT NULL,
  type           TEXT NOT NULL,
  outcome        TEXT,
  user_id        TEXT,
  enrollment_id  TEXT,
  device_id      TEXT,
  challenge_id   TEXT,
  ip             TEXT,
  detail         TEXT,                     -- JSON
  created_at     INTEGER NOT NULL
);
CREATE INDEX audit_app ON audit_events(app_id, seq);
CREATE INDEX audit_app_user ON audit_events(app_id, user_id, seq);
CREATE INDEX audit_app_type ON audit_events(app_id, type, seq);
CREATE INDEX audit_app_outcome ON audit_events(app_id, outcome, seq);
CREATE INDEX audit_app_time ON audit_events(app_id, created_at);
