-- Transfers that wait for their owner's approval.
--
-- Each user may set an approval threshold per currency. `register_transfer_for` now compares a
-- new transfer's amount with it, in the same call that registers the transfer, and gives a
-- transfer at or over it a deadline (`transfers.approval_deadline`, now + the timeout the API
-- passes): such a transfer is reserved, waits for approval, and is posted or voided by its
-- workflow. The threshold in force when the transfer was registered decides, once: changing it
-- later changes nothing already registered.
--
-- The ledger keeps the rule whoever calls it. A transfer with a deadline cannot be written
-- posted at once (`approval_required`): only a reservation, then a post, moves it, so a run
-- started past the API, or by a worker of the code before approvals, cannot skip the
-- decision. Reserving it marks its operation `awaiting_approval`, in the reservation's own
-- transaction; posting it from there records when it was approved (`approved_at`).

CREATE TABLE approval_thresholds (
    user_id       uuid NOT NULL REFERENCES users (id),
    currency      char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount_minor  bigint NOT NULL CHECK (amount_minor > 0 AND amount_minor <= 1000000000000000),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, currency)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON approval_thresholds TO djinn_app;
ALTER TABLE approval_thresholds ENABLE ROW LEVEL SECURITY;
CREATE POLICY approval_thresholds_own ON approval_thresholds TO djinn_app
    USING (user_id = djinn_current_user_id()) WITH CHECK (user_id = djinn_current_user_id());

ALTER TABLE transfers ADD COLUMN approval_deadline timestamptz;
ALTER TABLE transfers ADD COLUMN approved_at timestamptz;
ALTER TABLE transfers ADD CONSTRAINT approved_only_when_awaited
    CHECK (approved_at IS NULL OR approval_deadline IS NOT NULL);

-- A transfer's entry is written by a step of its workflow: refuse one written posted at once
-- when the transfer waits for approval, and mark the operation awaiting it when its
-- reservation is written. Runs as the tables' owner: the application role may not touch the
-- registered request.
CREATE FUNCTION transfers_wait_for_approval() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
    IF NEW.kind = 'transfer' AND NEW.status IN ('pending', 'posted')
       AND EXISTS (SELECT 1 FROM transfers t
                    WHERE t.operation_id = NEW.id AND t.approval_deadline IS NOT NULL) THEN
        IF NEW.status = 'posted' THEN
            RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'approval_required';
        END IF;
        UPDATE operations SET status = 'awaiting_approval', updated_at = now()
         WHERE id = NEW.id AND status = 'pending';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER transfers_wait_for_approval AFTER INSERT ON transactions
    FOR EACH ROW EXECUTE FUNCTION transfers_wait_for_approval();

-- The post of a transfer that awaited approval is its approval taking effect.
CREATE FUNCTION transfers_record_approval() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
    UPDATE transfers SET approved_at = now() WHERE operation_id = NEW.id AND approved_at IS NULL;
    RETURN NULL;
END
$$;
CREATE TRIGGER transfers_record_approval AFTER UPDATE OF status ON operations
    FOR EACH ROW WHEN (OLD.status = 'awaiting_approval' AND NEW.status = 'posted')
    EXECUTE FUNCTION transfers_record_approval();

-- The registration, as before (..._register_transfer_in_one_round_trip.sql), with the approval
-- deadline decided and answered.
DROP FUNCTION register_transfer_for(uuid, uuid, text, text, uuid, uuid, bigint, text, text);
CREATE FUNCTION register_transfer_for(
    p_user_id           uuid,
    p_operation_id      uuid,
    p_idempotency_key   text,
    p_workflow_id       text,
    p_from              uuid,
    p_to                uuid,
    p_amount_minor      bigint,
    p_currency          text,
    p_description       text,
    p_approval_timeout  interval
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
    approved_at        timestamptz
) LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    owned           integer;
    wrong_currency  text;
    closed          boolean;
    short           boolean;
    deadline        timestamptz;
BEGIN
    PERFORM set_config('djinn.user_id', p_user_id::text, true);

    IF NOT EXISTS (SELECT 1 FROM operations o
                    WHERE o.user_id = p_user_id AND o.kind = 'transfer' AND o.idempotency_key = p_idempotency_key) THEN
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
            RETURN NEXT;
            RETURN;
        END IF;

        SELECT now() + p_approval_timeout INTO deadline
          FROM approval_thresholds th
         WHERE th.user_id = p_user_id AND th.currency = p_currency AND p_amount_minor >= th.amount_minor;

        RETURN QUERY
            WITH operation AS (
                INSERT INTO operations (id, user_id, kind, idempotency_key, workflow_id, status)
                VALUES (p_operation_id, p_user_id, 'transfer', p_idempotency_key, p_workflow_id, 'pending')
                ON CONFLICT DO NOTHING
                RETURNING id, user_id, kind, status, workflow_id, idempotency_key, failure_code,
                          failure_message, created_at, updated_at),
            request AS (
                INSERT INTO transfers (operation_id, user_id, from_account_id, to_account_id, amount_minor,
                                       currency, description, approval_deadline)
                SELECT o.id, o.user_id, p_from, p_to, p_amount_minor, p_currency, p_description, deadline
                  FROM operation o)
            SELECT 'created', o.id, o.user_id, o.kind, o.status, o.workflow_id, o.idempotency_key,
                   o.failure_code, o.failure_message, o.created_at, o.updated_at,
                   p_from, p_to, p_amount_minor, p_currency, p_description, deadline, NULL::timestamptz
              FROM operation o;
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;

    RETURN QUERY
        SELECT 'existing', o.id, o.user_id, o.kind, o.status, o.workflow_id, o.idempotency_key,
               o.failure_code, o.failure_message, o.created_at, o.updated_at,
               t.from_account_id, t.to_account_id, t.amount_minor, t.currency::text, t.description,
               t.approval_deadline, t.approved_at
          FROM operations o JOIN transfers t ON t.operation_id = o.id
         WHERE o.user_id = p_user_id AND o.kind = 'transfer' AND o.idempotency_key = p_idempotency_key;
END
$$;

-- The one lock timeout (..._one_lock_timeout.sql), from its name.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION %s SET lock_timeout = %L', 'register_transfer_for(uuid, uuid, text, text, uuid, uuid, bigint, text, text, interval)', djinn_lock_timeout());
END
$$;
GRANT CREATE ON SCHEMA public TO djinn_app;
ALTER FUNCTION register_transfer_for(uuid, uuid, text, text, uuid, uuid, bigint, text, text, interval) OWNER TO djinn_app;
REVOKE CREATE ON SCHEMA public FROM djinn_app;
REVOKE EXECUTE ON FUNCTION register_transfer_for(uuid, uuid, text, text, uuid, uuid, bigint, text, text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION register_transfer_for(uuid, uuid, text, text, uuid, uuid, bigint, text, text, interval) TO djinn_app;

-- A transfer awaiting approval is not overdue before its deadline: its run is waiting, as it
-- should, and the sweeper need not ask Temporal about it every sweep for a day.
CREATE OR REPLACE FUNCTION operations_overdue(
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
       AND NOT (o.status = 'awaiting_approval'
                AND EXISTS (SELECT 1 FROM transfers t
                             WHERE t.operation_id = o.id AND t.approval_deadline > now() - p_quiet_for))
     ORDER BY o.updated_at, o.id
     LIMIT p_limit
$$;
