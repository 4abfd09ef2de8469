-- Tells the processes that share this schema what changed, on the channel
-- `rest_hooks.<schema>` (which LISTEN takes as an identifier: at most 63 bytes):
-- `queued` when deliveries are inserted (once per statement, and once per
-- transaction whatever the count), `hook <id>` when a hook is added, deleted,
-- disabled or enabled. Notifications are sent when the transaction commits.
CREATE FUNCTION rest_hooks_notify_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(left('rest_hooks.' || TG_TABLE_SCHEMA, 63), 'queued');
    RETURN NULL;
END
$$;

CREATE TRIGGER rest_hooks_deliveries_queued
    AFTER INSERT ON rest_hooks_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION rest_hooks_notify_queued();

CREATE FUNCTION rest_hooks_notify_hook() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify(left('rest_hooks.' || TG_TABLE_SCHEMA, 63), 'hook ' || OLD.id);
    ELSE
        PERFORM pg_notify(left('rest_hooks.' || TG_TABLE_SCHEMA, 63), 'hook ' || NEW.id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER rest_hooks_hooks_added_or_deleted
    AFTER INSERT OR DELETE ON rest_hooks_hooks
    FOR EACH ROW EXECUTE FUNCTION rest_hooks_notify_hook();

CREATE TRIGGER rest_hooks_hooks_switched
    AFTER UPDATE ON rest_hooks_hooks
    FOR EACH ROW WHEN (OLD.active IS DISTINCT FROM NEW.active)
    EXECUTE FUNCTION rest_hooks_notify_hook();
