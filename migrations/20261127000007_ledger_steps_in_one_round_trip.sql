-- The two ledger steps every transfer takes, reserve and post, as one round trip each.
--
-- Since ..._ledger_step_functions.sql a step was three round trips: BEGIN with the session
-- settings (the application role, the acting user, the timeouts), the function call, COMMIT.
-- These versions are called as a lone statement outside any explicit transaction: PostgreSQL
-- runs it in a transaction of its own and commits it before it answers. A step is then one
-- round trip, and the balance rows' locks are let go with the answer rather than one more
-- round trip later. On a machine the Temporal server shares, each round trip is also a wakeup
-- of three processes that competes with the server for the CPU.
--
-- What the caller's BEGIN used to set, each function now sets for itself:
-- - the role: the functions are SECURITY DEFINER and owned by `djinn_app`, so their statements
--   run as the application role, under row-level security, whoever calls them (the owner's
--   DATABASE_URL as in `make dev`, or a login role that is only a member of `djinn_app`);
-- - the acting user: `set_config('djinn.user_id', .., true)`, for this transaction only;
-- - the lock timeout, as a SET clause: 2 s, so that the at most four lock waits of a step stay
--   under its 10 s attempt timeout. The statement timeout cannot be set this way (its clock
--   starts with the statement); the lock timeout bounds the only waits these statements have;
-- - a fixed search_path, as every SECURITY DEFINER function needs.
-- And what the caller used to do by rolling back, they do by raising: a refusal raises
-- SQLSTATE DJ001 with the outcome word as its message (and a detail, for currency_mismatch),
-- which undoes whatever the step wrote. An outcome returned normally is committed: `reserved`,
-- `posted`, and the idempotent answers `already_claimed` and `already_posted`, which wrote
-- nothing.
--
-- The balanced-legs checks that Rust did between the call and its COMMIT are now in the
-- functions, before their commit: Rust still builds the reservation's postings and asserts
-- that they balance before the call; the reservation checks it again, and the posting checks
-- the legs it applied, per currency. A broken invariant (legs that do not balance, a pending
-- entry without postings, an account without a balance row) raises SQLSTATE DJ002, which the
-- caller reports as such and never retries blindly: it is never a user's error, nor one that
-- a retry would fix.
--
-- They replace the three-round-trip versions, which are dropped: nothing has run them in
-- production, and a worker of the previous release would also insert postings without their
-- owner (..._owner_on_every_row.sql).

DROP FUNCTION ledger_reserve_transfer(uuid, uuid, text, text, text, text, uuid[], uuid[], bigint[]);
DROP FUNCTION ledger_post_transfer(uuid, uuid);

CREATE FUNCTION ledger_reserve_transfer_for(
    p_user_id          uuid,
    p_transaction_id   uuid,
    p_idempotency_key  text,
    p_workflow_id      text,
    p_description      text,
    p_currency         text,
    p_posting_ids      uuid[],
    p_account_ids      uuid[],
    p_amounts          bigint[]
) RETURNS text LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = public, pg_temp
  SET lock_timeout = '2s'
AS $$
DECLARE
    owned           integer;
    wrong_currency  text;
    closed          boolean;
    leg             record;
BEGIN
    PERFORM set_config('djinn.user_id', p_user_id::text, true);
    -- The caller built and checked these legs; a malformed set is a bug, never a user's error.
    IF cardinality(p_account_ids) <> 2 OR cardinality(p_amounts) <> 2 OR cardinality(p_posting_ids) <> 2
       OR (SELECT sum(amount) FROM unnest(p_amounts) AS amount) <> 0 THEN
        RAISE EXCEPTION 'ledger_reserve_transfer_for: a transfer is two legs that sum to zero' USING ERRCODE = 'DJ002';
    END IF;

    INSERT INTO transactions (id, user_id, kind, status, idempotency_key, workflow_id, description)
    VALUES (p_transaction_id, p_user_id, 'transfer', 'pending', p_idempotency_key, p_workflow_id, p_description)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        IF EXISTS (SELECT 1 FROM transactions WHERE id = p_transaction_id) THEN
            RETURN 'already_claimed';
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'idempotency_key_reused';
    END IF;

    -- System accounts (no floor) are never a transfer's end; another user's account is not
    -- visible at all, so it is reported exactly like an unknown one.
    SELECT count(*), min(a.currency) FILTER (WHERE a.currency <> p_currency), bool_or(a.status <> 'open')
      INTO owned, wrong_currency, closed
      FROM (SELECT currency::text AS currency, status FROM accounts
             WHERE id = ANY (p_account_ids) AND user_id = p_user_id AND kind NOT IN ('equity', 'clearing')
             ORDER BY id FOR SHARE) AS a;
    IF owned <> cardinality(p_account_ids) THEN
        RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'account_not_found';
    ELSIF wrong_currency IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'currency_mismatch', DETAIL = wrong_currency;
    ELSIF closed THEN
        RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'account_closed';
    END IF;

    FOR leg IN
        SELECT l.account_id, l.amount_minor FROM unnest(p_account_ids, p_amounts) AS l(account_id, amount_minor)
         ORDER BY l.account_id
    LOOP
        IF leg.amount_minor < 0 THEN
            UPDATE account_balances
               SET pending_debit_minor = pending_debit_minor - leg.amount_minor, updated_at = now()
             WHERE account_id = leg.account_id
               AND (floor_minor IS NULL OR posted_minor - pending_debit_minor + leg.amount_minor >= floor_minor);
            IF NOT FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'insufficient_funds';
            END IF;
        ELSE
            UPDATE account_balances
               SET pending_credit_minor = pending_credit_minor + leg.amount_minor, updated_at = now()
             WHERE account_id = leg.account_id;
        END IF;
    END LOOP;

    INSERT INTO postings (id, transaction_id, user_id, account_id, amount_minor, currency)
    SELECT l.id, p_transaction_id, p_user_id, l.account_id, l.amount_minor, p_currency
      FROM unnest(p_posting_ids, p_account_ids, p_amounts) AS l(id, account_id, amount_minor);
    RETURN 'reserved';
END
$$;

-- Posts a reserved transfer: the entry becomes posted, each leg's pending amount becomes a
-- posted balance, and the operation is marked posted. Returns `posted` or `already_posted`;
-- raises DJ001 `voided` or `not_reserved`.
CREATE FUNCTION ledger_post_transfer_for(
    p_user_id          uuid,
    p_transaction_id   uuid,
    p_operation_id     uuid
) RETURNS text LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = public, pg_temp
  SET lock_timeout = '2s'
AS $$
DECLARE
    found_status  text;
    legs          integer := 0;
    leg           record;
BEGIN
    PERFORM set_config('djinn.user_id', p_user_id::text, true);
    UPDATE transactions SET status = 'posted', updated_at = now()
     WHERE id = p_transaction_id AND status = 'pending';
    IF NOT FOUND THEN
        SELECT status INTO found_status FROM transactions WHERE id = p_transaction_id;
        IF found_status = 'posted' THEN
            RETURN 'already_posted';
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'DJ001',
            MESSAGE = CASE found_status WHEN 'voided' THEN 'voided' ELSE 'not_reserved' END;
    END IF;

    IF EXISTS (SELECT 1 FROM postings WHERE transaction_id = p_transaction_id
                GROUP BY currency HAVING sum(amount_minor) <> 0) THEN
        RAISE EXCEPTION 'ledger_post_transfer_for: transaction % does not balance', p_transaction_id
            USING ERRCODE = 'DJ002';
    END IF;
    FOR leg IN
        SELECT account_id, amount_minor FROM postings
         WHERE transaction_id = p_transaction_id ORDER BY account_id
    LOOP
        UPDATE account_balances
           SET posted_minor = posted_minor + leg.amount_minor,
               pending_debit_minor = pending_debit_minor - greatest(-leg.amount_minor, 0),
               pending_credit_minor = pending_credit_minor - greatest(leg.amount_minor, 0),
               updated_at = now()
         WHERE account_id = leg.account_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'ledger_post_transfer_for: account % has no balance row', leg.account_id
                USING ERRCODE = 'DJ002';
        END IF;
        legs := legs + 1;
    END LOOP;
    IF legs = 0 THEN
        RAISE EXCEPTION 'ledger_post_transfer_for: transaction % was pending without postings', p_transaction_id
            USING ERRCODE = 'DJ002';
    END IF;

    UPDATE operations SET status = 'posted', failure_code = NULL, failure_message = NULL, updated_at = now()
     WHERE id = p_operation_id AND status IN ('pending', 'awaiting_approval');
    RETURN 'posted';
END
$$;

-- Owned by the application role, so that they run as it. Changing a function's owner needs
-- the new owner to hold CREATE on the schema; it holds it only for these two statements.
GRANT CREATE ON SCHEMA public TO djinn_app;
ALTER FUNCTION ledger_reserve_transfer_for(uuid, uuid, text, text, text, text, uuid[], uuid[], bigint[]) OWNER TO djinn_app;
ALTER FUNCTION ledger_post_transfer_for(uuid, uuid, uuid) OWNER TO djinn_app;
REVOKE CREATE ON SCHEMA public FROM djinn_app;

-- Only the application role (and its members) runs them.
REVOKE EXECUTE ON FUNCTION ledger_reserve_transfer_for(uuid, uuid, text, text, text, text, uuid[], uuid[], bigint[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ledger_post_transfer_for(uuid, uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_reserve_transfer_for(uuid, uuid, text, text, text, text, uuid[], uuid[], bigint[]) TO djinn_app;
GRANT EXECUTE ON FUNCTION ledger_post_transfer_for(uuid, uuid, uuid) TO djinn_app;
