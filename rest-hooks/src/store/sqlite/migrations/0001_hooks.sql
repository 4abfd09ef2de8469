CREATE TABLE rest_hooks_hooks (
    id         TEXT PRIMARY KEY NOT NULL,
    owner      TEXT NOT NULL,
    event      TEXT NOT NULL,
    target     TEXT NOT NULL,
    secret     TEXT NOT NULL,
    active     INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    metadata   TEXT NOT NULL
);
CREATE INDEX rest_hooks_hooks_owner ON rest_hooks_hooks (owner, id);
