-- Every change of a hook that the processes' in-memory indexes hold is notified:
-- a new target, a rotated secret, new metadata, paused or enabled again, not only
-- `active` switching. The failing streak (`failing_since`), which changes with
-- every failed batch and is not indexed, notifies nobody.
DROP TRIGGER rest_hooks_hooks_switched ON rest_hooks_hooks;

CREATE TRIGGER rest_hooks_hooks_changed
    AFTER UPDATE ON rest_hooks_hooks
    FOR EACH ROW WHEN (
        (OLD.owner, OLD.event, OLD.target, OLD.secret, OLD.active, OLD.metadata, OLD.disabled_reason)
        IS DISTINCT FROM
        (NEW.owner, NEW.event, NEW.target, NEW.secret, NEW.active, NEW.metadata, NEW.disabled_reason)
    )
    EXECUTE FUNCTION rest_hooks_notify_hook();
