-- More room on each page for the versions that leasing and recording write, so
-- that leasing (which changes no indexed column) stays a HOT update: at a
-- fillfactor of 70, a delivery's page filled up after a few of them and about half
-- of the leases wrote every index again.
ALTER TABLE rest_hooks_deliveries SET (fillfactor = 50);
