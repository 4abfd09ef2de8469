-- Every index is written again by each delivery queued, leased and recorded. These
-- two served only rare statements, which other indexes serve as well: disabling a
-- hook (rest_hooks_deliveries_hook) and deleting a hook's attempts (through its
-- deliveries and rest_hooks_attempts_delivery).
DROP INDEX rest_hooks_deliveries_state;
DROP INDEX rest_hooks_attempts_hook;
-- Room on each page, so that leasing (which changes no indexed column) updates a
-- delivery in place (a HOT update) instead of writing every index again.
ALTER TABLE rest_hooks_deliveries SET (fillfactor = 70);
-- Ids are compared byte by byte: under a database's linguistic collation every
-- index step on a text id went through strcoll. UUIDs sort the same either way.
ALTER TABLE rest_hooks_hooks ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE rest_hooks_deliveries
    ALTER COLUMN id TYPE TEXT COLLATE "C",
    ALTER COLUMN hook_id TYPE TEXT COLLATE "C";
ALTER TABLE rest_hooks_attempts
    ALTER COLUMN delivery_id TYPE TEXT COLLATE "C",
    ALTER COLUMN hook_id TYPE TEXT COLLATE "C";
