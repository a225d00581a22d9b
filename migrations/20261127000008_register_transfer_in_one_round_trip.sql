-- createTransfer's database work as one round trip.
--
-- The mutation looked up the accounts, registered the request (or found the one registered
-- before under its key) and committed: four round trips (BEGIN with the session settings, the
-- accounts, the registration, COMMIT) for every transfer, each a wakeup of the API and of a
-- database backend that competes with the Temporal server for the CPU. This function does the
-- same in one call, outside any explicit transaction, like the ledger steps
-- (..._ledger_steps_in_one_round_trip.sql): SECURITY DEFINER owned by `djinn_app`, so row-level
-- security applies whoever calls it; the acting user set for its own transaction; a fixed
-- search_path; a lock timeout (the foreign keys of the insert take key-share locks on the two
-- accounts).
--
-- What it answers, as one row whose `outcome` says which:
-- - `existing`: a transfer holds this key already (registered before, or by a concurrent
--   request that won the race): its row, whatever the accounts look like now. A retry of a
--   request that already moved money gets that transfer back, never a complaint about the
--   funds it moved; the caller compares the stored request with the new one.
-- - `created`: the checks passed and this request now holds the key: its row.
-- - a refusal word (`account_not_found`, `currency_mismatch`, `account_closed`,
--   `insufficient_funds`) and no transfer: nothing was written. The caller reads the accounts
--   again to tell the user exactly what is wrong (which account, what balance).
-- The checks are the early ones of the API: they spare a doomed workflow. The reservation
-- re-checks all of them atomically, under the balance row's lock.

CREATE FUNCTION register_transfer_for(
    p_user_id          uuid,
    p_operation_id     uuid,
    p_idempotency_key  text,
    p_workflow_id      text,
    p_from             uuid,
    p_to               uuid,
    p_amount_minor     bigint,
    p_currency         text,
    p_description      text
) RETURNS TABLE (
    outcome          text,
    id               uuid,
    user_id          uuid,
    kind             text,
    status           text,
    workflow_id      text,
    idempotency_key  text,
    failure_code     text,
    failure_message  text,
    created_at       timestamptz,
    updated_at       timestamptz,
    from_account_id  uuid,
    to_account_id    uuid,
    amount_minor     bigint,
    currency         text,
    description      text
) LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = public, pg_temp
  SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    owned           integer;
    wrong_currency  text;
    closed          boolean;
    short           boolean;
BEGIN
    PERFORM set_config('djinn.user_id', p_user_id::text, true);

    IF NOT EXISTS (SELECT 1 FROM operations o
                    WHERE o.user_id = p_user_id AND o.kind = 'transfer' AND o.idempotency_key = p_idempotency_key) THEN
        -- System accounts (no floor) are never a transfer's end; another user's account is not
        -- visible at all, so it reads exactly like an unknown one. What the source may spend is
        -- its available balance (posted minus pending debits) plus its overdraft limit, in
        -- numeric so that no sum overflows.
        SELECT count(*),
               min(a.currency::text) FILTER (WHERE a.currency::text <> p_currency),
               bool_or(a.status <> 'open'),
               bool_or(a.id = p_from AND b.posted_minor::numeric - b.pending_debit_minor
                                         + coalesce(a.overdraft_limit_minor, 0) < p_amount_minor)
          INTO owned, wrong_currency, closed, short
          FROM accounts a JOIN account_balances b ON b.account_id = a.id
         WHERE a.id IN (p_from, p_to) AND a.user_id = p_user_id AND a.kind NOT IN ('equity', 'clearing');
        outcome := CASE
            WHEN owned <> 2 THEN 'account_not_found'
            WHEN wrong_currency IS NOT NULL THEN 'currency_mismatch'
            WHEN closed THEN 'account_closed'
            WHEN short THEN 'insufficient_funds'
        END;
        IF outcome IS NOT NULL THEN
            RETURN NEXT;  -- the refusal, every other column NULL
            RETURN;
        END IF;

        -- The operation and its request in one statement, so that a claimed key always has its
        -- transfer row. The conflict has no target: the workflow id derives from (user, key), so
        -- a concurrent first request with the same key can collide on either unique index
        -- first, and both mean "the key is taken".
        RETURN QUERY
            WITH operation AS (
                INSERT INTO operations (id, user_id, kind, idempotency_key, workflow_id, status)
                VALUES (p_operation_id, p_user_id, 'transfer', p_idempotency_key, p_workflow_id, 'pending')
                ON CONFLICT DO NOTHING
                RETURNING id, user_id, kind, status, workflow_id, idempotency_key, failure_code,
                          failure_message, created_at, updated_at),
            request AS (
                INSERT INTO transfers (operation_id, user_id, from_account_id, to_account_id, amount_minor, currency, description)
                SELECT o.id, o.user_id, p_from, p_to, p_amount_minor, p_currency, p_description FROM operation o)
            SELECT 'created', o.id, o.user_id, o.kind, o.status, o.workflow_id, o.idempotency_key,
                   o.failure_code, o.failure_message, o.created_at, o.updated_at,
                   p_from, p_to, p_amount_minor, p_currency, p_description
              FROM operation o;
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;

    -- A transfer holds the key: registered before, or by a concurrent request that won the race
    -- to insert (this statement sees its commit).
    RETURN QUERY
        SELECT 'existing', o.id, o.user_id, o.kind, o.status, o.workflow_id, o.idempotency_key,
               o.failure_code, o.failure_message, o.created_at, o.updated_at,
               t.from_account_id, t.to_account_id, t.amount_minor, t.currency::text, t.description
          FROM operations o JOIN transfers t ON t.operation_id = o.id
         WHERE o.user_id = p_user_id AND o.kind = 'transfer' AND o.idempotency_key = p_idempotency_key;
END
$$;

-- Owned by the application role, so that it runs as it. Changing a function's owner needs the
-- new owner to hold CREATE on the schema; it holds it only for this statement.
GRANT CREATE ON SCHEMA public TO djinn_app;
ALTER FUNCTION register_transfer_for(uuid, uuid, text, text, uuid, uuid, bigint, text, text) OWNER TO djinn_app;
REVOKE CREATE ON SCHEMA public FROM djinn_app;

-- Only the application role (and its members) runs it.
REVOKE EXECUTE ON FUNCTION register_transfer_for(uuid, uuid, text, text, uuid, uuid, bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION register_transfer_for(uuid, uuid, text, text, uuid, uuid, bigint, text, text) TO djinn_app;
