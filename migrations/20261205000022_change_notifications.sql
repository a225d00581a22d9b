-- Live status for subscriptions (`transferUpdated`, `accountUpdated`): the projections say when
-- they change. A trigger sends a NOTIFY on channel `djinn_changes` in the very transaction
-- that changes a transfer's status or an account's balances, so a notification is delivered
-- if and only if the change committed, and after it did: a reader woken by it sees the change.
-- Each api process holds one LISTEN connection and fans the notifications out to its
-- subscribers (`djinn_store::changes`); no subscriber polls.
--
-- The payload is `<kind> <id>` and nothing else: no amount, no user. A subscription was checked
-- against its user when it started, and reads what changed as that user.
-- PostgreSQL folds identical notifications of one transaction into one.

CREATE FUNCTION notify_transfer_change() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('djinn_changes', 'transfer ' || NEW.id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER operations_notify AFTER UPDATE OF status ON operations
    FOR EACH ROW WHEN (NEW.kind = 'transfer' AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION notify_transfer_change();

CREATE FUNCTION notify_account_change() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('djinn_changes', 'account ' || NEW.account_id::text);
    RETURN NULL;
END
$$;
-- System accounts (no floor) change with every opening and import; nobody subscribes to them.
CREATE TRIGGER account_balances_notify AFTER UPDATE ON account_balances
    FOR EACH ROW WHEN (NEW.floor_minor IS NOT NULL)
    EXECUTE FUNCTION notify_account_change();
