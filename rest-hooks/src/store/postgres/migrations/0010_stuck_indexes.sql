-- The health check counts held and failed deliveries; with these (small) partial
-- indexes it reads only those, not the whole delivery log.
CREATE INDEX rest_hooks_deliveries_held ON rest_hooks_deliveries (id) WHERE state = 'held';
CREATE INDEX rest_hooks_deliveries_failed ON rest_hooks_deliveries (id) WHERE state = 'failed';
