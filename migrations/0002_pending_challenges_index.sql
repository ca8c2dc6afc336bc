-- A device's pending challenges (GET /v1/device/challenges, src/db/challenges.ts pendingForDevice) were
-- found by walking every challenge of the application (challenges_app), then probing the device's
-- deliveries: 105 ms per call at 500 k challenges in one application, growing with the table. This partial
-- index holds only pending challenges, so the walk covers what is pending now (bounded by rate × TTL) and
-- the query stays flat: 0.02 ms at the same size (bench/RESULTS.md, section 4).
CREATE INDEX challenges_pending ON challenges(app_id, expires_at) WHERE status = 'pending';
