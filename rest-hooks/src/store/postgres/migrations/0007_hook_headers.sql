-- Custom headers of a hook, sent with each of its deliveries; a change to them is
-- notified like any other change that the processes' indexes hold. (Deliveries
-- held for a hook that is disabled or paused, and those discarded when it comes
-- back without replaying them, are new values of `state`: 'held', 'discarded'.)
ALTER TABLE rest_hooks_hooks ADD COLUMN headers JSONB NOT NULL DEFAULT '{}';

DROP TRIGGER rest_hooks_hooks_changed ON rest_hooks_hooks;

CREATE TRIGGER rest_hooks_hooks_changed
    AFTER UPDATE ON rest_hooks_hooks
    FOR EACH ROW WHEN (
        (OLD.owner, OLD.event, OLD.target, OLD.secret, OLD.active, OLD.metadata, OLD.disabled_reason, OLD.headers)
        IS DISTINCT FROM
        (NEW.owner, NEW.event, NEW.target, NEW.secret, NEW.active, NEW.metadata, NEW.disabled_reason, NEW.headers)
    )
    EXECUTE FUNCTION rest_hooks_notify_hook();
