-- A transfer that nothing has to wait for is reserved and posted in one database transaction.
--
-- A reservation holds money while something decides whether it moves: an approval, a payment
-- rail's settlement. A transfer between a user's own accounts below any approval threshold has
-- nothing to wait for, and its reservation was posted right after it committed: two calls, two
-- commits, two local activities in the workflow. This function does both at once: the checks
-- of `ledger_reserve_transfer_for` (..._ledger_steps_in_one_round_trip.sql), then the entry
-- written as posted, each leg applied to the posted balance (the source's floor checked in the
-- same statement that moves it, under the balance row's lock), and the operation marked posted.
-- The end state is exactly what reserve then post leave; only the pending state in between,
-- which no other transaction could ever see here, is gone. A transfer that must wait still
-- takes the two steps.
--
-- Called like the other steps: one statement outside any explicit transaction, SECURITY
-- DEFINER owned by `djinn_app` (row-level security applies whoever calls it), the acting user
-- set for its own transaction, a fixed search_path, a lock timeout. Outcomes: `posted`, or
-- `already_posted` when an earlier attempt did it (the answer was lost, the worker died). It
-- refuses by raising SQLSTATE DJ001 with the word as its message, which undoes everything:
-- `voided` (a void's tombstone holds the entry: the workflow gave up on this transfer before
-- this attempt ran), `idempotency_key_reused`, `account_not_found`, `currency_mismatch` (with
-- the accounts' currency as detail), `account_closed`, `insufficient_funds`. Legs that do not
-- balance, or an entry left pending by the two-step path under the same id, raise DJ002: a
-- bug, never a user's error.

CREATE FUNCTION ledger_reserve_and_post_transfer_for(
    p_user_id          uuid,
    p_transaction_id   uuid,
    p_operation_id     uuid,
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
    found_status    text;
    owned           integer;
    wrong_currency  text;
    closed          boolean;
    leg             record;
BEGIN
    PERFORM set_config('djinn.user_id', p_user_id::text, true);
    IF cardinality(p_account_ids) <> 2 OR cardinality(p_amounts) <> 2 OR cardinality(p_posting_ids) <> 2
       OR (SELECT sum(amount) FROM unnest(p_amounts) AS amount) <> 0 THEN
        RAISE EXCEPTION 'ledger_reserve_and_post_transfer_for: a transfer is two legs that sum to zero' USING ERRCODE = 'DJ002';
    END IF;

    INSERT INTO transactions (id, user_id, kind, status, idempotency_key, workflow_id, description)
    VALUES (p_transaction_id, p_user_id, 'transfer', 'posted', p_idempotency_key, p_workflow_id, p_description)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        SELECT status INTO found_status FROM transactions WHERE id = p_transaction_id;
        CASE found_status
            WHEN 'posted' THEN RETURN 'already_posted';
            WHEN 'voided' THEN RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'voided';
            WHEN 'pending' THEN
                RAISE EXCEPTION 'ledger_reserve_and_post_transfer_for: transaction % was reserved by the two-step path', p_transaction_id
                    USING ERRCODE = 'DJ002';
            ELSE RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'idempotency_key_reused';
        END CASE;
    END IF;

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
        UPDATE account_balances
           SET posted_minor = posted_minor + leg.amount_minor, updated_at = now()
         WHERE account_id = leg.account_id
           AND (leg.amount_minor > 0 OR floor_minor IS NULL
                OR posted_minor - pending_debit_minor + leg.amount_minor >= floor_minor);
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'insufficient_funds';
        END IF;
    END LOOP;

    INSERT INTO postings (id, transaction_id, user_id, account_id, amount_minor, currency)
    SELECT l.id, p_transaction_id, p_user_id, l.account_id, l.amount_minor, p_currency
      FROM unnest(p_posting_ids, p_account_ids, p_amounts) AS l(id, account_id, amount_minor);

    UPDATE operations SET status = 'posted', failure_code = NULL, failure_message = NULL, updated_at = now()
     WHERE id = p_operation_id AND status IN ('pending', 'awaiting_approval');
    RETURN 'posted';
END
$$;

-- Owned by the application role, so that it runs as it (see ..._ledger_steps_in_one_round_trip.sql).
GRANT CREATE ON SCHEMA public TO djinn_app;
ALTER FUNCTION ledger_reserve_and_post_transfer_for(uuid, uuid, uuid, text, text, text, text, uuid[], uuid[], bigint[]) OWNER TO djinn_app;
REVOKE CREATE ON SCHEMA public FROM djinn_app;

REVOKE EXECUTE ON FUNCTION ledger_reserve_and_post_transfer_for(uuid, uuid, uuid, text, text, text, text, uuid[], uuid[], bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_reserve_and_post_transfer_for(uuid, uuid, uuid, text, text, text, text, uuid[], uuid[], bigint[]) TO djinn_app;
