-- Abuse controls: per-application settings, number matching on challenges, and users paused after a
-- "this wasn't me" report. Rate-limit counters are not here: they live in the RateLimiter Durable Object.

-- Only the members an application changed are stored (JSON); defaults fill the rest when read, so a
-- default can improve for everyone who never chose otherwise.
CREATE TABLE app_settings (
  app_id      TEXT PRIMARY KEY REFERENCES applications(id),
  settings    TEXT NOT NULL,               -- JSON, validated by src/abuse/settings.ts
  updated_at  INTEGER NOT NULL
);

-- Whether the device must send the number shown on the login page. The number itself is never in D1:
-- the challenge's Durable Object holds it while the challenge is pending.
ALTER TABLE challenges ADD COLUMN number_matching INTEGER NOT NULL DEFAULT 0;

-- A user whose device reported a challenge as "this wasn't me": new challenges are refused until the
-- application clears the pause. One row per paused user; clearing deletes it (the audit keeps history).
CREATE TABLE user_pauses (
  app_id        TEXT NOT NULL REFERENCES applications(id),
  user_id       TEXT NOT NULL,
  challenge_id  TEXT NOT NULL,             -- the challenge reported as fraud
  device_id     TEXT,                      -- the device that reported it
  paused_at     INTEGER NOT NULL,
  PRIMARY KEY (app_id, user_id)
);
