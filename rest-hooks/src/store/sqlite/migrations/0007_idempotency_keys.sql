-- Idempotency keys of `POST /hooks`: a key names one subscription request of one
-- owner (its fingerprint) and the hook it made, for a day.
CREATE TABLE rest_hooks_idempotency (
    owner      TEXT NOT NULL,
    key        TEXT NOT NULL,
    request    TEXT NOT NULL,
    hook_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (owner, key)
);
