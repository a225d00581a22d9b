-- Fixes found in review of ..._ledger_moves_only_what_was_registered.sql and
-- ..._overdue_operations.sql.
--
-- Lock order. The reservation claims the entry, locks the balance rows, then (through the
-- postings trigger) the operation. The post and the void locked the operation first and the
-- entry after: a void racing a reservation attempt still in flight could wait for it in a
-- circle, and PostgreSQL would abort one of them as a deadlock (retried, so nothing was lost,
-- but a step stalled for the deadlock timeout). Both now read their operation without locking
-- it, claim the entry, and update the operation last; the post refuses (`not_pending`, undoing
-- itself) when the operation was settled otherwise meanwhile.
--
-- The sweeper read the 100 operations untouched the longest, and an operation it leaves (its
-- run still going) keeps its place: 100 such would hide every other one for good.
-- `operations_overdue` now takes a cursor, and each sweep walks past them.
--
-- Privileges. The application role updates journal entries' status only, and never a
-- registered transfer's request, which the postings trigger trusts.

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
    -- Read, not locked: the operation is locked last, as the reservation's legs lock it.
    SELECT status INTO operation_status FROM operations
     WHERE id = p_operation_id AND user_id = p_user_id AND kind = 'transfer' AND id = p_transaction_id;
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
     WHERE id = p_operation_id AND status IN ('pending', 'awaiting_approval');
    IF NOT FOUND THEN
        -- Settled otherwise meanwhile: undo this step rather than post past it.
        RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'not_pending';
    END IF;
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
    -- Read, not locked: the entry is claimed first and the operation updated last, in the
    -- order the reservation takes them, so the two never wait for each other in a circle.
    PERFORM 1 FROM operations
      WHERE id = p_operation_id AND user_id = p_user_id AND kind = 'transfer' AND id = p_transaction_id;
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

DROP FUNCTION operations_overdue(interval, integer);

-- The operations untouched for `p_quiet_for`, after the cursor (updated_at, id), oldest first.
CREATE FUNCTION operations_overdue(
    p_quiet_for      interval,
    p_after_updated  timestamptz,
    p_after_id       uuid,
    p_limit          integer
) RETURNS TABLE (id uuid, user_id uuid, kind text, workflow_id text, updated_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
    SELECT o.id, o.user_id, o.kind, o.workflow_id, o.updated_at
      FROM operations o
     WHERE o.status IN ('pending', 'awaiting_approval')
       AND o.updated_at < now() - p_quiet_for
       AND (p_after_updated IS NULL OR (o.updated_at, o.id) > (p_after_updated, p_after_id))
     ORDER BY o.updated_at, o.id
     LIMIT p_limit
$$;

REVOKE EXECUTE ON FUNCTION operations_overdue(interval, timestamptz, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION operations_overdue(interval, timestamptz, uuid, integer) TO djinn_app;

REVOKE UPDATE ON transfers FROM djinn_app;
REVOKE UPDATE ON transactions FROM djinn_app;
GRANT UPDATE (status, updated_at) ON transactions TO djinn_app;
