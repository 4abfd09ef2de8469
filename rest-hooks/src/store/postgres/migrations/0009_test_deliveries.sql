-- Test deliveries (`POST /hooks/{id}/test`: the event's example payload) are
-- marked in the log.
ALTER TABLE rest_hooks_deliveries ADD COLUMN test BOOLEAN NOT NULL DEFAULT false;
