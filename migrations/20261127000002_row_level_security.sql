-- Row-level security: the application connects as (or switches to) `djinn_app`, a role without
-- BYPASSRLS, and names the current user in every transaction with
--   SELECT set_config('role', 'djinn_app', true), set_config('djinn.user_id', '<uuid>', true)
-- (per-transaction settings only, so this works behind PgBouncer in transaction mode). Another
-- user's rows are then invisible even to a buggy query. With no user set, no row is visible.

DO $$
BEGIN
    CREATE ROLE djinn_app NOLOGIN NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- roles are cluster-wide: another database of this cluster created it
END
$$;

-- The owner (the role running migrations) may switch to the application role.
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'djinn_app', 'MEMBER') THEN
        EXECUTE format('GRANT djinn_app TO %I', current_user);
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO djinn_app;
GRANT SELECT, INSERT ON users TO djinn_app;
GRANT SELECT, INSERT, UPDATE ON accounts, account_balances, transactions, operations, transfers TO djinn_app;
GRANT SELECT, INSERT ON postings TO djinn_app;

-- The current user, or NULL (matching nothing) when the transaction named none.
CREATE FUNCTION djinn_current_user_id() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT NULLIF(current_setting('djinn.user_id', true), '')::uuid
$$;

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE account_balances ENABLE ROW LEVEL SECURITY;
ALTER TABLE transactions ENABLE ROW LEVEL SECURITY;
ALTER TABLE postings ENABLE ROW LEVEL SECURITY;
ALTER TABLE operations ENABLE ROW LEVEL SECURITY;
ALTER TABLE transfers ENABLE ROW LEVEL SECURITY;

-- A user row is found by its id, or, while signing in, by the Firebase uid being resolved.
CREATE POLICY users_own ON users TO djinn_app
    USING (id = djinn_current_user_id() OR firebase_uid = NULLIF(current_setting('djinn.firebase_uid', true), ''))
    WITH CHECK (firebase_uid = NULLIF(current_setting('djinn.firebase_uid', true), ''));

CREATE POLICY accounts_own ON accounts TO djinn_app
    USING (user_id = djinn_current_user_id()) WITH CHECK (user_id = djinn_current_user_id());
CREATE POLICY transactions_own ON transactions TO djinn_app
    USING (user_id = djinn_current_user_id()) WITH CHECK (user_id = djinn_current_user_id());
CREATE POLICY operations_own ON operations TO djinn_app
    USING (user_id = djinn_current_user_id()) WITH CHECK (user_id = djinn_current_user_id());
CREATE POLICY transfers_own ON transfers TO djinn_app
    USING (user_id = djinn_current_user_id()) WITH CHECK (user_id = djinn_current_user_id());

-- Balances and postings belong to whoever owns their account (and, for postings, transaction).
CREATE POLICY account_balances_own ON account_balances TO djinn_app
    USING (EXISTS (SELECT 1 FROM accounts a WHERE a.id = account_id AND a.user_id = djinn_current_user_id()))
    WITH CHECK (EXISTS (SELECT 1 FROM accounts a WHERE a.id = account_id AND a.user_id = djinn_current_user_id()));
CREATE POLICY postings_own ON postings TO djinn_app
    USING (EXISTS (SELECT 1 FROM transactions t WHERE t.id = transaction_id AND t.user_id = djinn_current_user_id()))
    WITH CHECK (
        EXISTS (SELECT 1 FROM transactions t WHERE t.id = transaction_id AND t.user_id = djinn_current_user_id())
        AND EXISTS (SELECT 1 FROM accounts a WHERE a.id = account_id AND a.user_id = djinn_current_user_id())
    );
