-- Voiding a transfer, as one round trip like its siblings (..._ledger_steps_in_one_round_trip.sql):
-- until now the void was seven statements from Rust (BEGIN with the session settings, the
-- tombstone, the release, the status check, each leg's balance, the operation, COMMIT).
--
-- Voids a transfer that has not been posted: releases what was reserved (if anything was) and
-- records why on the operation. When nothing was reserved, it leaves a `voided` journal entry
-- without postings as a tombstone, so that a reservation attempt still in flight (or a
-- workflow restarted from the Temporal UI) finds the entry claimed and can never hold or move
-- the money afterwards. A posted transfer is left alone, since it can only be reversed: the
-- void raises DJ001 `posted`. Returns `voided` when it changed anything, `already_voided` when
-- a replay found its work done. A reserved entry whose legs do not balance raises DJ002.
CREATE FUNCTION ledger_void_transfer_for(
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

-- Owned by the application role, so that it runs as it, as its siblings do.
GRANT CREATE ON SCHEMA public TO djinn_app;
ALTER FUNCTION ledger_void_transfer_for(uuid, uuid, uuid, text, text, text) OWNER TO djinn_app;
REVOKE CREATE ON SCHEMA public FROM djinn_app;

REVOKE EXECUTE ON FUNCTION ledger_void_transfer_for(uuid, uuid, uuid, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_void_transfer_for(uuid, uuid, uuid, text, text, text) TO djinn_app;
