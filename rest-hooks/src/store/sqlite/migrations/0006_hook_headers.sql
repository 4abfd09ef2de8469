-- Custom headers of a hook, a JSON object sent with each of its deliveries.
-- (Deliveries held for a hook that is disabled or paused, and those discarded when
-- it comes back without replaying them, are new values of `state`: 'held',
-- 'discarded'.)
ALTER TABLE rest_hooks_hooks ADD COLUMN headers TEXT NOT NULL DEFAULT '{}';
