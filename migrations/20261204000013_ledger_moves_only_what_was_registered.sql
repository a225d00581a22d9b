-- The ledger moves only what the API registered, and the database itself keeps double entry.
--
-- Until now the ledger's steps took the user, the accounts and the amount from the workflow's
-- input. Anyone who can start workflows in the namespace (a leaked Temporal API key, the Web
-- UI, the CLI) could then move money between a user's accounts with no operation behind it, or
-- post a registered transfer with another amount. Now:
-- - every leg written for a transfer or an opening must be exactly what its operation's
--   registered request says (`transfers`, `account_openings`), and the operation must still be
--   waiting for it: a trigger on `postings` refuses anything else with DJ001 `not_registered`
--   or `not_pending`, which the steps report as NOT_REGISTERED and NOT_PENDING, non-retryably.
--   It also locks the operation's row, so the step's own `UPDATE operations` finds it;
-- - posting a reservation and voiding a transfer read their operation first and refuse the same
--   way (`ledger_post_transfer_for`, `ledger_void_transfer_for` below);
-- - a deferred constraint trigger refuses, at commit, a transaction whose postings do not sum
--   to zero per currency (DJ002), whoever wrote them;
-- - a trigger refuses every status change of a journal entry but pending -> posted and
--   pending -> voided (DJ002): a posted entry can never be posted again, nor reopened.
-- Entries of other kinds (payments, imports, adjustments, reversals) have no writer yet: their
-- legs are refused until the release that writes them says what registers them.

CREATE FUNCTION postings_match_registration() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    entry_kind  text;
    registered  record;
BEGIN
    SELECT kind INTO entry_kind FROM transactions WHERE id = NEW.transaction_id;
    IF entry_kind = 'transfer' THEN
        SELECT o.status, t.from_account_id, t.to_account_id, t.amount_minor, t.currency::text AS currency
          INTO registered
          FROM operations o JOIN transfers t ON t.operation_id = o.id
         WHERE o.id = NEW.transaction_id AND o.user_id = NEW.user_id AND o.kind = 'transfer'
           FOR UPDATE OF o;
        IF NOT FOUND OR registered.currency <> NEW.currency::text
           OR NOT ((NEW.account_id = registered.from_account_id AND NEW.amount_minor = -registered.amount_minor)
                OR (NEW.account_id = registered.to_account_id AND NEW.amount_minor = registered.amount_minor)) THEN
            RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'not_registered';
        END IF;
        IF registered.status NOT IN ('pending', 'awaiting_approval') THEN
            RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'not_pending';
        END IF;
    ELSIF entry_kind = 'opening' THEN
        -- An opening's entry shares its operation's id, which is also the opened account's id;
        -- its other leg is the user's equity account in the same currency.
        SELECT o.status, r.opening_minor, r.currency::text AS currency
          INTO registered
          FROM operations o JOIN account_openings r ON r.operation_id = o.id
         WHERE o.id = NEW.transaction_id AND o.user_id = NEW.user_id AND o.kind = 'open_account'
           FOR UPDATE OF o;
        IF NOT FOUND OR registered.currency <> NEW.currency::text
           OR NOT ((NEW.account_id = NEW.transaction_id AND NEW.amount_minor = registered.opening_minor)
                OR (NEW.amount_minor = -registered.opening_minor
                    AND EXISTS (SELECT 1 FROM accounts a
                                 WHERE a.id = NEW.account_id AND a.user_id = NEW.user_id
                                   AND a.kind = 'equity'))) THEN
            RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'not_registered';
        END IF;
        IF registered.status <> 'pending' THEN
            RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'not_pending';
        END IF;
    ELSE
        RAISE EXCEPTION 'postings of a % entry have no registered writer', coalesce(entry_kind, 'unknown')
            USING ERRCODE = 'DJ002';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER postings_match_registration BEFORE INSERT ON postings
    FOR EACH ROW EXECUTE FUNCTION postings_match_registration();

CREATE FUNCTION postings_balance_per_currency() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM postings WHERE transaction_id = NEW.transaction_id
                GROUP BY currency HAVING sum(amount_minor) <> 0) THEN
        RAISE EXCEPTION 'transaction % does not balance', NEW.transaction_id USING ERRCODE = 'DJ002';
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER postings_balance_per_currency AFTER INSERT ON postings
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION postings_balance_per_currency();

CREATE FUNCTION transactions_status_moves_forward() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
BEGIN
    IF OLD.status = 'pending' AND NEW.status IN ('posted', 'voided') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'transaction %: % -> % is not a status change the ledger makes', OLD.id, OLD.status, NEW.status
        USING ERRCODE = 'DJ002';
END
$$;

CREATE TRIGGER transactions_status_moves_forward BEFORE UPDATE OF status ON transactions
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION transactions_status_moves_forward();

-- Posts a reserved transfer, as before (..._ledger_steps_in_one_round_trip.sql), once its
-- operation is found waiting for it: DJ001 `not_registered` or `not_pending` otherwise.
CREATE OR REPLACE FUNCTION ledger_post_transfer_for(
    p_user_id          uuid,
    p_transaction_id   uuid,
    p_operation_id     uuid
) RETURNS text LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = public, pg_temp
AS $$
DECLARE
    operation_status  text;
    found_status      text;
    legs              integer := 0;
    leg               record;
BEGIN
    PERFORM set_config('djinn.user_id', p_user_id::text, true);
    SELECT status INTO operation_status FROM operations
     WHERE id = p_operation_id AND user_id = p_user_id AND kind = 'transfer' AND id = p_transaction_id
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'not_registered';
    END IF;
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
    IF operation_status NOT IN ('pending', 'awaiting_approval') THEN
        RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'not_pending';
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
     WHERE id = p_operation_id;
    RETURN 'posted';
END
$$;
-- Replacing a function replaces its SET clauses: the lock timeout is set again, from its name.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION ledger_post_transfer_for(uuid, uuid, uuid) SET lock_timeout = %L',
                   djinn_lock_timeout());
END
$$;

-- Voids a transfer, as before (..._void_in_one_round_trip.sql), once its operation is found:
-- a void of a transfer nobody registered is refused (DJ001 `not_registered`) rather than
-- leaving a tombstone for it.
CREATE OR REPLACE FUNCTION ledger_void_transfer_for(
    p_user_id          uuid,
    p_transaction_id   uuid,
    p_operation_id     uuid,
    p_idempotency_key  text,
    p_failure_code     text,
    p_failure_message  text
) RETURNS text LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = public, pg_temp
AS $$
DECLARE
    claimed       boolean;
    released      boolean := false;
    found_status  text;
    leg           record;
BEGIN
    PERFORM set_config('djinn.user_id', p_user_id::text, true);
    PERFORM set_config('lock_timeout', djinn_lock_timeout(), true);
    PERFORM 1 FROM operations
      WHERE id = p_operation_id AND user_id = p_user_id AND kind = 'transfer' AND id = p_transaction_id
        FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'not_registered';
    END IF;

    INSERT INTO transactions (id, user_id, kind, status, idempotency_key, description)
    VALUES (p_transaction_id, p_user_id, 'transfer', 'voided', p_idempotency_key,
            'voided before it was reserved')
    ON CONFLICT DO NOTHING;
    claimed := FOUND;
    IF NOT claimed THEN
        UPDATE transactions SET status = 'voided', updated_at = now()
         WHERE id = p_transaction_id AND status = 'pending';
        released := FOUND;
    END IF;
    IF NOT claimed AND NOT released THEN
        SELECT status INTO found_status FROM transactions WHERE id = p_transaction_id;
        IF found_status = 'posted' THEN
            RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'posted';
        END IF;
    END IF;

    IF released THEN
        IF EXISTS (SELECT 1 FROM postings WHERE transaction_id = p_transaction_id
                    GROUP BY currency HAVING sum(amount_minor) <> 0) THEN
            RAISE EXCEPTION 'ledger_void_transfer_for: transaction % does not balance', p_transaction_id
                USING ERRCODE = 'DJ002';
        END IF;
        FOR leg IN
            SELECT account_id, amount_minor FROM postings
             WHERE transaction_id = p_transaction_id ORDER BY account_id
        LOOP
            UPDATE account_balances
               SET pending_debit_minor = pending_debit_minor - greatest(-leg.amount_minor, 0),
                   pending_credit_minor = pending_credit_minor - greatest(leg.amount_minor, 0),
                   updated_at = now()
             WHERE account_id = leg.account_id;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'ledger_void_transfer_for: account % has no balance row', leg.account_id
                    USING ERRCODE = 'DJ002';
            END IF;
        END LOOP;
    END IF;

    UPDATE operations
       SET status = 'voided', failure_code = p_failure_code, failure_message = p_failure_message,
           updated_at = now()
     WHERE id = p_operation_id AND status IN ('pending', 'awaiting_approval');
    IF FOUND OR claimed OR released THEN
        RETURN 'voided';
    END IF;
    RETURN 'already_voided';
END
$$;
