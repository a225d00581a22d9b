-- The two ledger steps every transfer takes, reserve and post, as one statement each.
--
-- Written as a series of statements from Rust, each step took seven round trips (begin, claim,
-- check the accounts, one balance update per leg, the postings, commit) and held the locks of
-- the balance rows across the last four. Behind a network (a managed PostgreSQL), every round
-- trip is a millisecond or more that the hottest rows of the ledger stay locked. As functions,
-- a step is three round trips (begin with the session settings, this call, commit) and the
-- locks are held for one statement and the commit.
--
-- Rust still owns the rules that are not about rows: it validates the request, builds the
-- postings and asserts they balance before calling `ledger_reserve_transfer`, and asserts
-- again on the legs `ledger_post_transfer` returns, before it commits. Both functions run as
-- their caller (`djinn_app`, under row-level security), lock balance rows in account-id order
-- (so transfers in opposite directions cannot deadlock), and report what they found as an
-- `outcome` word; on any outcome but the one that did the work, nothing was written or the
-- caller rolls back.

-- Reserves a transfer: claims its journal entry (pending), checks both accounts are the user's
-- own, open and in the transfer's currency, holds the amount on the source (pending debit,
-- refused below the floor in the same statement that changes it), announces it on the
-- destination (pending credit) and writes the postings.
--
-- outcome: reserved | already_claimed (an earlier attempt, or a void's tombstone, holds the
-- entry) | idempotency_key_reused | account_not_found | currency_mismatch (detail: the
-- accounts' currency) | account_closed | insufficient_funds.
CREATE FUNCTION ledger_reserve_transfer(
    p_transaction_id   uuid,
    p_user_id          uuid,
    p_idempotency_key  text,
    p_workflow_id      text,
    p_description      text,
    p_currency         text,
    p_posting_ids      uuid[],
    p_account_ids      uuid[],
    p_amounts          bigint[],
    OUT outcome        text,
    OUT detail         text
) LANGUAGE plpgsql AS $$
DECLARE
    owned           integer;
    wrong_currency  text;
    closed          boolean;
    leg             record;
BEGIN
    -- The caller built and checked these legs; a malformed set is a bug, never a user's error.
    IF cardinality(p_account_ids) <> 2 OR cardinality(p_amounts) <> 2 OR cardinality(p_posting_ids) <> 2
       OR (SELECT sum(amount) FROM unnest(p_amounts) AS amount) <> 0 THEN
        RAISE EXCEPTION 'ledger_reserve_transfer: a transfer is two legs that sum to zero';
    END IF;

    INSERT INTO transactions (id, user_id, kind, status, idempotency_key, workflow_id, description)
    VALUES (p_transaction_id, p_user_id, 'transfer', 'pending', p_idempotency_key, p_workflow_id, p_description)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        outcome := CASE WHEN EXISTS (SELECT 1 FROM transactions WHERE id = p_transaction_id)
                        THEN 'already_claimed' ELSE 'idempotency_key_reused' END;
        RETURN;
    END IF;

    -- System accounts (no floor) are never a transfer's end; another user's account is not
    -- visible at all, so it is reported exactly like an unknown one.
    SELECT count(*), min(a.currency) FILTER (WHERE a.currency <> p_currency), bool_or(a.status <> 'open')
      INTO owned, wrong_currency, closed
      FROM (SELECT currency::text AS currency, status FROM accounts
             WHERE id = ANY (p_account_ids) AND user_id = p_user_id AND kind NOT IN ('equity', 'clearing')
             ORDER BY id FOR SHARE) AS a;
    IF owned <> cardinality(p_account_ids) THEN
        outcome := 'account_not_found';
        RETURN;
    ELSIF wrong_currency IS NOT NULL THEN
        outcome := 'currency_mismatch';
        detail := wrong_currency;
        RETURN;
    ELSIF closed THEN
        outcome := 'account_closed';
        RETURN;
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
                outcome := 'insufficient_funds';
                RETURN;
            END IF;
        ELSE
            UPDATE account_balances
               SET pending_credit_minor = pending_credit_minor + leg.amount_minor, updated_at = now()
             WHERE account_id = leg.account_id;
        END IF;
    END LOOP;

    INSERT INTO postings (id, transaction_id, account_id, amount_minor, currency)
    SELECT l.id, p_transaction_id, l.account_id, l.amount_minor, p_currency
      FROM unnest(p_posting_ids, p_account_ids, p_amounts) AS l(id, account_id, amount_minor);
    outcome := 'reserved';
END
$$;

-- Posts a reserved transfer: the entry becomes posted, each leg's pending amount becomes a
-- posted balance, and the operation is marked posted. Returns the legs it applied, in
-- account-id order, for the caller to check that they still balance before it commits.
--
-- outcome: posted | already_posted | voided | not_reserved.
CREATE FUNCTION ledger_post_transfer(
    p_transaction_id   uuid,
    p_operation_id     uuid,
    OUT outcome        text,
    OUT account_ids    uuid[],
    OUT amounts        bigint[],
    OUT currencies     text[]
) LANGUAGE plpgsql AS $$
DECLARE
    found_status  text;
    leg           record;
BEGIN
    UPDATE transactions SET status = 'posted', updated_at = now()
     WHERE id = p_transaction_id AND status = 'pending';
    IF NOT FOUND THEN
        SELECT status INTO found_status FROM transactions WHERE id = p_transaction_id;
        outcome := CASE found_status WHEN 'posted' THEN 'already_posted'
                                     WHEN 'voided' THEN 'voided'
                                     ELSE 'not_reserved' END;
        RETURN;
    END IF;

    FOR leg IN
        SELECT account_id, amount_minor, currency::text AS currency FROM postings
         WHERE transaction_id = p_transaction_id ORDER BY account_id
    LOOP
        UPDATE account_balances
           SET posted_minor = posted_minor + leg.amount_minor,
               pending_debit_minor = pending_debit_minor - greatest(-leg.amount_minor, 0),
               pending_credit_minor = pending_credit_minor - greatest(leg.amount_minor, 0),
               updated_at = now()
         WHERE account_id = leg.account_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'ledger_post_transfer: account % has no balance row', leg.account_id;
        END IF;
        account_ids := account_ids || leg.account_id;
        amounts := amounts || leg.amount_minor;
        currencies := currencies || leg.currency;
    END LOOP;

    UPDATE operations SET status = 'posted', failure_code = NULL, failure_message = NULL, updated_at = now()
     WHERE id = p_operation_id AND status IN ('pending', 'awaiting_approval');
    outcome := 'posted';
END
$$;

-- Only the application role runs them (functions are executable by everyone by default).
REVOKE EXECUTE ON FUNCTION ledger_reserve_transfer(uuid, uuid, text, text, text, text, uuid[], uuid[], bigint[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ledger_post_transfer(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_reserve_transfer(uuid, uuid, text, text, text, text, uuid[], uuid[], bigint[]) TO djinn_app;
GRANT EXECUTE ON FUNCTION ledger_post_transfer(uuid, uuid) TO djinn_app;
