-- Reversals, never edits: a posted transfer is undone by a second transfer the other way,
-- registered as reversing it (`transfers.reverses_operation_id`) and run by a transfer
-- workflow of its own (id `reversal:<user>:<original>`). The original stays posted, and its
-- history keeps both entries.
--
-- - Once: the column is UNIQUE, and `register_reversal_for` locks the original's operation
--   before it looks, so two concurrent reversals with different keys find one another.
-- - Only of what moved: the original must be a posted transfer of the user's, and not itself a
--   reversal (a reversal is corrected by a new transfer, not reversed back and forth).
-- - The same checks as any transfer: the account the money returns from must be open and able
--   to pay (available balance plus overdraft limit), checked at registration and again,
--   atomically, by the ledger step.
-- - A reversal's journal entry is of kind `reversal` (set by a trigger from the registration,
--   whichever step writes it), so the history says what it is; the postings trigger accepts its
--   legs on the same terms as a transfer's, and refuses them unless the original is posted.
-- A reversal refused by the ledger after it was registered (the funds went in between) is
-- voided like any transfer; the original then keeps its one registered reversal, and staff
-- decide what follows.

ALTER TABLE transfers ADD COLUMN reverses_operation_id uuid UNIQUE REFERENCES transfers (operation_id);
ALTER TABLE transfers ADD CONSTRAINT reversals_wait_for_nothing
    CHECK (reverses_operation_id IS NULL OR approval_deadline IS NULL);

CREATE FUNCTION transactions_of_reversals() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
    original  uuid;
BEGIN
    IF NEW.kind = 'transfer' THEN
        SELECT t.reverses_operation_id INTO original FROM transfers t WHERE t.operation_id = NEW.id;
        IF original IS NOT NULL THEN
            NEW.kind := 'reversal';
            IF NEW.status <> 'voided' AND NOT EXISTS (
                SELECT 1 FROM transactions o WHERE o.id = original AND o.status = 'posted') THEN
                RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'not_posted';
            END IF;
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER transactions_of_reversals BEFORE INSERT ON transactions
    FOR EACH ROW EXECUTE FUNCTION transactions_of_reversals();

-- As before (..._ledger_moves_only_what_was_registered.sql), reversals' legs accepted on a
-- transfer's terms.
CREATE OR REPLACE FUNCTION postings_match_registration() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
    entry_kind  text;
    registered  record;
BEGIN
    SELECT kind INTO entry_kind FROM transactions WHERE id = NEW.transaction_id;
    IF entry_kind IN ('transfer', 'reversal') THEN
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


-- Registers the reversal of the user's posted transfer `p_original_id`, or finds the one
-- registered under the key. Answers like `register_transfer_for` (`created`, `existing`, or a
-- refusal word with every other column NULL): `transfer_not_found`, `not_posted` (or a
-- reversal), `already_reversed`, `account_closed`, `insufficient_funds`.
CREATE FUNCTION register_reversal_for(
    p_user_id          uuid,
    p_operation_id     uuid,
    p_idempotency_key  text,
    p_workflow_id      text,
    p_original_id      uuid,
    p_description      text
) RETURNS TABLE (
    outcome            text,
    id                 uuid,
    user_id            uuid,
    kind               text,
    status             text,
    workflow_id        text,
    idempotency_key    text,
    failure_code       text,
    failure_message    text,
    created_at         timestamptz,
    updated_at         timestamptz,
    from_account_id    uuid,
    to_account_id      uuid,
    amount_minor       bigint,
    currency           text,
    description        text,
    approval_deadline  timestamptz,
    approved_at        timestamptz,
    reverses_operation_id  uuid
) LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    original        record;
    found_original  boolean;
    payer           record;
BEGIN
    PERFORM set_config('djinn.user_id', p_user_id::text, true);
    -- The original's operation is locked first: concurrent reversals of it queue here.
    SELECT o.status, t.from_account_id, t.to_account_id, t.amount_minor, t.currency::text AS currency,
           t.reverses_operation_id
      INTO original
      FROM operations o JOIN transfers t ON t.operation_id = o.id
     WHERE o.id = p_original_id AND o.user_id = p_user_id AND o.kind = 'transfer'
       FOR UPDATE OF o;
    found_original := FOUND;

    IF NOT EXISTS (SELECT 1 FROM operations o
                    WHERE o.user_id = p_user_id AND o.kind = 'transfer' AND o.idempotency_key = p_idempotency_key) THEN
        IF NOT found_original THEN
            outcome := 'transfer_not_found';
        ELSIF original.status <> 'posted' OR original.reverses_operation_id IS NOT NULL THEN
            -- Not posted, or itself a reversal (corrected by a new transfer, not reversed back).
            outcome := 'not_posted';
        ELSIF EXISTS (SELECT 1 FROM transfers r WHERE r.reverses_operation_id = p_original_id) THEN
            outcome := 'already_reversed';
        ELSE
            SELECT bool_or(a.status <> 'open') AS closed,
                   bool_or(a.id = original.to_account_id
                           AND b.posted_minor::numeric - b.pending_debit_minor
                               + coalesce(a.overdraft_limit_minor, 0) < original.amount_minor) AS short
              INTO payer
              FROM accounts a JOIN account_balances b ON b.account_id = a.id
             WHERE a.id IN (original.from_account_id, original.to_account_id) AND a.user_id = p_user_id;
            outcome := CASE WHEN payer.closed THEN 'account_closed'
                            WHEN payer.short THEN 'insufficient_funds' END;
        END IF;
        IF outcome IS NOT NULL THEN
            RETURN NEXT;
            RETURN;
        END IF;

        RETURN QUERY
            WITH operation AS (
                INSERT INTO operations (id, user_id, kind, idempotency_key, workflow_id, status)
                VALUES (p_operation_id, p_user_id, 'transfer', p_idempotency_key, p_workflow_id, 'pending')
                ON CONFLICT DO NOTHING
                RETURNING id, user_id, kind, status, workflow_id, idempotency_key, failure_code,
                          failure_message, created_at, updated_at),
            request AS (
                INSERT INTO transfers (operation_id, user_id, from_account_id, to_account_id, amount_minor,
                                       currency, description, reverses_operation_id)
                SELECT o.id, o.user_id, original.to_account_id, original.from_account_id,
                       original.amount_minor, original.currency, p_description, p_original_id
                  FROM operation o)
            SELECT 'created', o.id, o.user_id, o.kind, o.status, o.workflow_id, o.idempotency_key,
                   o.failure_code, o.failure_message, o.created_at, o.updated_at,
                   original.to_account_id, original.from_account_id, original.amount_minor,
                   original.currency, p_description, NULL::timestamptz, NULL::timestamptz, p_original_id
              FROM operation o;
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;

    RETURN QUERY
        SELECT 'existing', o.id, o.user_id, o.kind, o.status, o.workflow_id, o.idempotency_key,
               o.failure_code, o.failure_message, o.created_at, o.updated_at,
               t.from_account_id, t.to_account_id, t.amount_minor, t.currency::text, t.description,
               t.approval_deadline, t.approved_at, t.reverses_operation_id
          FROM operations o JOIN transfers t ON t.operation_id = o.id
         WHERE o.user_id = p_user_id AND o.kind = 'transfer' AND o.idempotency_key = p_idempotency_key;
END
$$;

-- The one lock timeout (..._one_lock_timeout.sql), from its name.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION %s SET lock_timeout = %L', 'register_reversal_for(uuid, uuid, text, text, uuid, text)', djinn_lock_timeout());
END
$$;
GRANT CREATE ON SCHEMA public TO djinn_app;
ALTER FUNCTION register_reversal_for(uuid, uuid, text, text, uuid, text) OWNER TO djinn_app;
REVOKE CREATE ON SCHEMA public FROM djinn_app;
REVOKE EXECUTE ON FUNCTION register_reversal_for(uuid, uuid, text, text, uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION register_reversal_for(uuid, uuid, text, text, uuid, text) TO djinn_app;
