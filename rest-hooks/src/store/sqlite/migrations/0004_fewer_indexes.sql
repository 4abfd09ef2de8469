-- Every index is written again by each delivery queued, leased and recorded. These
-- two served only rare statements, which other indexes serve as well: disabling a
-- hook (rest_hooks_deliveries_hook) and deleting a hook's attempts (through its
-- deliveries and rest_hooks_attempts_delivery).
DROP INDEX rest_hooks_deliveries_state;
DROP INDEX rest_hooks_attempts_hook;
