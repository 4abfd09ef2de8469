-- A logged 2xx attempt marks its delivery delivered and ends its hook's failing
-- streak, in the statement that logs it: recording the usual batch, all
-- delivered, is then one statement instead of a transaction of four, and the one
-- writer is held that much shorter.
CREATE TRIGGER rest_hooks_attempt_delivered AFTER INSERT ON rest_hooks_attempts
WHEN NEW.status BETWEEN 200 AND 299
BEGIN
    UPDATE rest_hooks_deliveries
    SET state = 'delivered', attempts = attempts + 1, leased_until = NULL,
        last_attempt_at = NEW.attempted_at
    WHERE id = NEW.delivery_id;
    UPDATE rest_hooks_hooks SET failing_since = NULL
    WHERE id = NEW.hook_id AND failing_since IS NOT NULL;
END;
