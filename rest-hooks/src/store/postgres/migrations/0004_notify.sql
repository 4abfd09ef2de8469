-- Tells the processes that share this schema which hooks changed, on the channel
-- `rest_hooks_<md5 of the schema's name>` (a channel is an identifier, at most 63
-- bytes, which a schema's name can fill by itself):
-- `hook <id>` when a hook is added, deleted, disabled or enabled, sent when the
-- transaction commits. (`queued`, on the same channel, is sent by the store, at
-- most once every few milliseconds however fast events are fired.)
CREATE FUNCTION rest_hooks_notify_hook() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('rest_hooks_' || md5(TG_TABLE_SCHEMA), 'hook ' || OLD.id);
    ELSE
        PERFORM pg_notify('rest_hooks_' || md5(TG_TABLE_SCHEMA), 'hook ' || NEW.id);
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
