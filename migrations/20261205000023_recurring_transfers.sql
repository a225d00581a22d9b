-- Recurring transfers: a rule per user (what to move, and when, in the rule's time zone), run
-- by a Temporal Schedule (`recurring:<rule>`) whose every run asks `register_recurring_run_for`
-- to register that day's transfer, then runs it as any transfer.
--
-- - The day is the scheduled time's date in the rule's time zone (PostgreSQL's time-zone
--   database, so the workflow does no calendar arithmetic). The schedule fires at 09:00 local
--   time: daylight-saving changes happen at night, so a run is never skipped or doubled by one,
--   and it stays at 09:00 local across them.
-- - A monthly rule on day 29, 30 or 31 runs on the last day of a month that has no such day
--   (the schedule fires on days 28 to 31; this function keeps only the rule's day, or the last
--   day of a shorter month).
-- - Once per day and rule: the transfer's idempotency key is `recurring:<rule>:<day>`, so a
--   retried or overlapping trigger of the same day finds the transfer registered and never
--   pays twice. Each run is kept in `recurring_transfer_runs`, with its transfer or the reason
--   it was refused (INSUFFICIENT_FUNDS, ...), which the rule shows; a refused day retried later
--   may still register its transfer.

CREATE TABLE recurring_transfers (
    id               uuid PRIMARY KEY,
    user_id          uuid NOT NULL REFERENCES users (id),
    idempotency_key  text NOT NULL,
    from_account_id  uuid NOT NULL,
    to_account_id    uuid NOT NULL,
    amount_minor     bigint NOT NULL CHECK (amount_minor > 0 AND amount_minor <= 1000000000000000),
    currency         char(3) NOT NULL,
    description      text,
    every            text NOT NULL CHECK (every IN ('day', 'week', 'month')),
    day_of_month     smallint CHECK (day_of_month BETWEEN 1 AND 31),
    start_date       date NOT NULL,
    end_date         date CHECK (end_date >= start_date),
    time_zone        text NOT NULL,
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'deleted')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, idempotency_key),
    CHECK (from_account_id <> to_account_id),
    CHECK ((every = 'month') = (day_of_month IS NOT NULL)),
    FOREIGN KEY (from_account_id, user_id, currency) REFERENCES accounts (id, user_id, currency),
    FOREIGN KEY (to_account_id, user_id, currency) REFERENCES accounts (id, user_id, currency)
);
CREATE INDEX recurring_transfers_user_idx ON recurring_transfers (user_id, id);

CREATE TABLE recurring_transfer_runs (
    rule_id       uuid NOT NULL REFERENCES recurring_transfers (id),
    user_id       uuid NOT NULL REFERENCES users (id),
    run_on        date NOT NULL,
    operation_id  uuid REFERENCES operations (id),
    refusal       text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, run_on),
    CHECK ((operation_id IS NULL) <> (refusal IS NULL))
);

GRANT SELECT, INSERT ON recurring_transfers TO djinn_app;
GRANT UPDATE (status) ON recurring_transfers TO djinn_app;
GRANT SELECT, INSERT ON recurring_transfer_runs TO djinn_app;
GRANT UPDATE (operation_id, refusal) ON recurring_transfer_runs TO djinn_app;
ALTER TABLE recurring_transfers ENABLE ROW LEVEL SECURITY;
ALTER TABLE recurring_transfer_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY recurring_transfers_own ON recurring_transfers TO djinn_app
    USING (user_id = djinn_current_user_id()) WITH CHECK (user_id = djinn_current_user_id());
CREATE POLICY recurring_transfer_runs_own ON recurring_transfer_runs TO djinn_app
    USING (user_id = djinn_current_user_id()) WITH CHECK (user_id = djinn_current_user_id());

-- Registers the transfer of the rule's run scheduled at `p_scheduled_at`, or finds it. Answers
-- like `register_transfer_for`, or `inactive` (paused, deleted, before its start or after its
-- end) or `not_today` (a monthly rule's schedule firing on a day that is not its day), with
-- every other column NULL.
CREATE FUNCTION register_recurring_run_for(
    p_user_id           uuid,
    p_rule_id           uuid,
    p_scheduled_at      timestamptz,
    p_operation_id      uuid,
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
    rule      record;
    run_on    date;
    last_day  integer;
    run_key   text;
BEGIN
    PERFORM set_config('djinn.user_id', p_user_id::text, true);
    SELECT r.* INTO rule FROM recurring_transfers r WHERE r.id = p_rule_id AND r.user_id = p_user_id;
    IF NOT FOUND OR rule.status <> 'active' THEN
        outcome := 'inactive';
        RETURN NEXT;
        RETURN;
    END IF;
    run_on := (p_scheduled_at AT TIME ZONE rule.time_zone)::date;
    IF run_on < rule.start_date OR run_on > coalesce(rule.end_date, run_on) THEN
        outcome := 'inactive';
        RETURN NEXT;
        RETURN;
    END IF;
    IF rule.every = 'month' THEN
        last_day := extract(day FROM date_trunc('month', run_on) + interval '1 month - 1 day');
        IF extract(day FROM run_on) <> least(rule.day_of_month, last_day) THEN
            outcome := 'not_today';
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;
    run_key := 'recurring:' || rule.id || ':' || run_on;
    -- The registration and the day's run in one statement: the run keeps the transfer, or the
    -- refusal's code.
    RETURN QUERY
        WITH answer AS (
            SELECT * FROM register_transfer_for(
                p_user_id, p_operation_id, run_key, 'transfer:' || p_user_id || ':' || run_key,
                rule.from_account_id, rule.to_account_id, rule.amount_minor, rule.currency::text,
                rule.description, p_approval_timeout)),
        run AS (
            INSERT INTO recurring_transfer_runs (rule_id, user_id, run_on, operation_id, refusal)
            SELECT p_rule_id, p_user_id, run_on, a.id, CASE WHEN a.id IS NULL THEN upper(a.outcome) END
              FROM answer a
            ON CONFLICT (rule_id, run_on) DO UPDATE
                SET operation_id = EXCLUDED.operation_id, refusal = EXCLUDED.refusal
                WHERE recurring_transfer_runs.operation_id IS NULL)
        SELECT * FROM answer;
END
$$;

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION %s SET lock_timeout = %L',
                   'register_recurring_run_for(uuid, uuid, timestamptz, uuid, interval)', djinn_lock_timeout());
END
$$;
GRANT CREATE ON SCHEMA public TO djinn_app;
ALTER FUNCTION register_recurring_run_for(uuid, uuid, timestamptz, uuid, interval) OWNER TO djinn_app;
REVOKE CREATE ON SCHEMA public FROM djinn_app;
REVOKE EXECUTE ON FUNCTION register_recurring_run_for(uuid, uuid, timestamptz, uuid, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION register_recurring_run_for(uuid, uuid, timestamptz, uuid, interval) TO djinn_app;
