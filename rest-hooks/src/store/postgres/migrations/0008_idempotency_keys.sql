-- Idempotency keys of `POST /hooks`: a key names one subscription request of one
-- owner (its fingerprint) and the hook it made, for a day. The primary key makes
-- a second process that claims the same key wait for the first to commit.
CREATE TABLE rest_hooks_idempotency (
    owner      TEXT NOT NULL,
    key        TEXT NOT NULL,
    request    TEXT NOT NULL,
    hook_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (owner, key)
);
