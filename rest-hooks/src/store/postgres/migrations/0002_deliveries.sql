CREATE TABLE rest_hooks_deliveries (
    id              TEXT PRIMARY KEY NOT NULL,
    hook_id         TEXT NOT NULL,
    owner           TEXT NOT NULL,
    event           TEXT NOT NULL,
    target          TEXT NOT NULL,
    payload         BYTEA NOT NULL,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    due_at          BIGINT NOT NULL,
    leased_until    BIGINT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX rest_hooks_deliveries_due ON rest_hooks_deliveries (due_at) WHERE state = 'pending';
CREATE INDEX rest_hooks_deliveries_hook ON rest_hooks_deliveries (hook_id, id);
