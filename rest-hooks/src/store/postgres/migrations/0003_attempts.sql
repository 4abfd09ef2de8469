ALTER TABLE rest_hooks_hooks ADD COLUMN previous_secret TEXT;
ALTER TABLE rest_hooks_hooks ADD COLUMN previous_secret_until BIGINT;
ALTER TABLE rest_hooks_hooks ADD COLUMN failing_since BIGINT;
ALTER TABLE rest_hooks_hooks ADD COLUMN disabled_reason TEXT;
ALTER TABLE rest_hooks_deliveries ADD COLUMN last_attempt_at BIGINT;
CREATE TABLE rest_hooks_attempts (
    id            BIGSERIAL PRIMARY KEY,
    delivery_id   TEXT NOT NULL,
    hook_id       TEXT NOT NULL,
    attempted_at  BIGINT NOT NULL,
    status        BIGINT,
    error         TEXT,
    duration_ms   BIGINT NOT NULL,
    response_body TEXT
);
CREATE INDEX rest_hooks_attempts_delivery ON rest_hooks_attempts (delivery_id, id);
CREATE INDEX rest_hooks_attempts_hook ON rest_hooks_attempts (hook_id, id);
CREATE INDEX rest_hooks_deliveries_state ON rest_hooks_deliveries (hook_id, state);
