-- Reconciliation: an account's statement lines against its ledger entries for a period.
--
-- - Matched by bank id first: a line whose posting (posted by its import, or the Djinn entry it
--   cleared) is posted. Then by amount: a line left over takes the nearest entry left over with
--   its amount, booked within `statement_match_days()`, each at most once.
-- - What is left is recorded as items: `missing_from_ledger` (a line the ledger lacks) and
--   `unexpected_in_ledger` (a posted entry of the account in the period that no line shows,
--   such as a Djinn transfer the bank never executed); the amount matches are recorded too.
--   Openings are not compared: a statement shows a balance, not a line, for them.
-- - The closing difference: the latest closing balance an import of the account stated for a
--   day in the period, minus the ledger's posted balance at the end of that day (UTC).
-- - A nightly run is registered once per account and day (`nightly_on`).

CREATE TABLE reconciliation_runs (
    id                        uuid PRIMARY KEY,
    user_id                   uuid NOT NULL REFERENCES users (id),
    account_id                uuid NOT NULL,
    currency                  char(3) NOT NULL,
    period_from               date NOT NULL,
    period_to                 date NOT NULL CHECK (period_to >= period_from),
    nightly_on                date,
    status                    text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
    matched_count             integer NOT NULL DEFAULT 0,
    missing_count             integer NOT NULL DEFAULT 0,
    unexpected_count          integer NOT NULL DEFAULT 0,
    statement_closing_minor   bigint,
    ledger_closing_minor      bigint,
    closing_on                date,
    failure_message           text,
    created_at                timestamptz NOT NULL DEFAULT now(),
    completed_at              timestamptz,
    UNIQUE (id, user_id),
    FOREIGN KEY (account_id, user_id, currency) REFERENCES accounts (id, user_id, currency)
);
CREATE INDEX reconciliation_runs_account_idx ON reconciliation_runs (account_id, id);
CREATE UNIQUE INDEX reconciliation_runs_nightly_idx ON reconciliation_runs (account_id, nightly_on)
    WHERE nightly_on IS NOT NULL;

CREATE TABLE reconciliation_items (
    run_id             uuid NOT NULL,
    user_id            uuid NOT NULL REFERENCES users (id),
    kind               text NOT NULL CHECK (kind IN ('missing_from_ledger', 'unexpected_in_ledger', 'matched_by_amount')),
    statement_line_id  uuid REFERENCES statement_lines (id),
    posting_id         uuid REFERENCES postings (id),
    FOREIGN KEY (run_id, user_id) REFERENCES reconciliation_runs (id, user_id),
    CHECK ((kind = 'missing_from_ledger') = (posting_id IS NULL)),
    CHECK ((kind = 'unexpected_in_ledger') = (statement_line_id IS NULL))
);
CREATE INDEX reconciliation_items_run_idx ON reconciliation_items (run_id, kind);

GRANT SELECT, INSERT ON reconciliation_runs, reconciliation_items TO djinn_app;
GRANT UPDATE (status, matched_count, missing_count, unexpected_count, statement_closing_minor,
              ledger_closing_minor, closing_on, failure_message, completed_at)
    ON reconciliation_runs TO djinn_app;
ALTER TABLE reconciliation_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE reconciliation_items ENABLE ROW LEVEL SECURITY;
CREATE POLICY reconciliation_runs_own ON reconciliation_runs TO djinn_app
    USING (user_id = djinn_current_user_id()) WITH CHECK (user_id = djinn_current_user_id());
CREATE POLICY reconciliation_items_own ON reconciliation_items TO djinn_app
    USING (user_id = djinn_current_user_id()) WITH CHECK (user_id = djinn_current_user_id());

-- The accounts with statements, of every user, for the nightly run to register its runs as
-- each account's owner. Runs as the tables' owner: it reads ids and days only.
CREATE FUNCTION accounts_with_statements()
    RETURNS TABLE (account_id uuid, user_id uuid, first_day date, last_day date)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT l.account_id, l.user_id, min(l.booked_on), max(l.booked_on)
      FROM statement_lines l GROUP BY l.account_id, l.user_id ORDER BY l.account_id
$$;
REVOKE EXECUTE ON FUNCTION accounts_with_statements() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION accounts_with_statements() TO djinn_app;

-- Runs the user's reconciliation `p_run_id`, once: a run that ended answers `already`.
CREATE FUNCTION reconcile_account_for(p_user_id uuid, p_run_id uuid)
    RETURNS TABLE (outcome text, matched integer, missing integer, unexpected integer)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
    run          record;
    period_start timestamptz;
    period_end   timestamptz;
    by_id        integer;
    line         record;
    entry        uuid;
    by_amount    integer := 0;
    closing      record;
    ledger_at    bigint;
BEGIN
    PERFORM set_config('djinn.user_id', p_user_id::text, true);
    SELECT r.* INTO run FROM reconciliation_runs r
     WHERE r.id = p_run_id AND r.user_id = p_user_id FOR UPDATE;
    IF NOT FOUND OR run.status <> 'running' THEN
        RETURN QUERY SELECT 'already', coalesce(run.matched_count, 0), coalesce(run.missing_count, 0),
                            coalesce(run.unexpected_count, 0);
        RETURN;
    END IF;
    period_start := run.period_from::timestamp AT TIME ZONE 'UTC';
    period_end := (run.period_to + 1)::timestamp AT TIME ZONE 'UTC';

    -- By bank id: the line's own posting, posted.
    SELECT count(*) INTO by_id
      FROM statement_lines l JOIN postings p ON p.id = l.posting_id
      JOIN transactions t ON t.id = p.transaction_id AND t.status = 'posted'
     WHERE l.account_id = run.account_id AND l.booked_on BETWEEN run.period_from AND run.period_to;
    -- What is left on either side, in tables of the transaction's own.
    CREATE TEMP TABLE reconcile_missing (id uuid PRIMARY KEY, booked_on date, amount bigint)
        ON COMMIT DROP;
    CREATE TEMP TABLE reconcile_extra (id uuid PRIMARY KEY, on_day date, amount bigint)
        ON COMMIT DROP;
    INSERT INTO reconcile_missing
    SELECT l.id, l.booked_on, l.amount_minor FROM statement_lines l
     WHERE l.account_id = run.account_id AND l.booked_on BETWEEN run.period_from AND run.period_to
       AND l.amount_minor <> 0
       AND NOT EXISTS (SELECT 1 FROM postings p JOIN transactions t ON t.id = p.transaction_id
                        WHERE p.id = l.posting_id AND t.status = 'posted');
    INSERT INTO reconcile_extra
    SELECT p.id, (t.effective_at AT TIME ZONE 'UTC')::date, p.amount_minor
      FROM postings p JOIN transactions t ON t.id = p.transaction_id
     WHERE p.account_id = run.account_id AND t.status = 'posted' AND t.kind <> 'opening'
       AND t.effective_at >= period_start AND t.effective_at < period_end
       AND NOT EXISTS (SELECT 1 FROM statement_lines s WHERE s.posting_id = p.id);
    CREATE INDEX ON reconcile_extra (amount);

    -- By amount, among what is left: each line takes the nearest entry left with its amount.
    FOR line IN
        SELECT m.id, m.booked_on, m.amount FROM reconcile_missing m
         WHERE EXISTS (SELECT 1 FROM reconcile_extra e WHERE e.amount = m.amount)
         ORDER BY m.booked_on, m.id
    LOOP
        SELECT e.id INTO entry FROM reconcile_extra e
         WHERE e.amount = line.amount AND abs(e.on_day - line.booked_on) <= statement_match_days()
         ORDER BY abs(e.on_day - line.booked_on), e.id LIMIT 1;
        IF entry IS NOT NULL THEN
            INSERT INTO reconciliation_items (run_id, user_id, kind, statement_line_id, posting_id)
            VALUES (p_run_id, p_user_id, 'matched_by_amount', line.id, entry);
            DELETE FROM reconcile_missing WHERE id = line.id;
            DELETE FROM reconcile_extra WHERE id = entry;
            by_amount := by_amount + 1;
        END IF;
    END LOOP;
    INSERT INTO reconciliation_items (run_id, user_id, kind, statement_line_id)
    SELECT p_run_id, p_user_id, 'missing_from_ledger', id FROM reconcile_missing;
    GET DIAGNOSTICS missing = ROW_COUNT;
    INSERT INTO reconciliation_items (run_id, user_id, kind, posting_id)
    SELECT p_run_id, p_user_id, 'unexpected_in_ledger', id FROM reconcile_extra;
    GET DIAGNOSTICS unexpected = ROW_COUNT;

    SELECT i.closing_minor, i.closing_on INTO closing FROM statement_imports i
     WHERE i.account_id = run.account_id AND i.status = 'completed' AND i.closing_minor IS NOT NULL
       AND i.closing_on BETWEEN run.period_from AND run.period_to
     ORDER BY i.closing_on DESC, i.created_at DESC LIMIT 1;
    IF closing.closing_on IS NOT NULL THEN
        SELECT coalesce(sum(p.amount_minor), 0) INTO ledger_at
          FROM postings p JOIN transactions t ON t.id = p.transaction_id
         WHERE p.account_id = run.account_id AND t.status = 'posted'
           AND t.effective_at < (closing.closing_on + 1)::timestamp AT TIME ZONE 'UTC';
    END IF;

    UPDATE reconciliation_runs r
       SET status = 'completed', matched_count = by_id + by_amount,
           missing_count = missing, unexpected_count = unexpected,
           statement_closing_minor = closing.closing_minor, ledger_closing_minor = ledger_at,
           closing_on = closing.closing_on, completed_at = now()
     WHERE r.id = p_run_id;
    outcome := 'reconciled';
    matched := by_id + by_amount;
    RETURN NEXT;
END
$$;

GRANT CREATE ON SCHEMA public TO djinn_app;
ALTER FUNCTION reconcile_account_for(uuid, uuid) OWNER TO djinn_app;
REVOKE CREATE ON SCHEMA public FROM djinn_app;
REVOKE EXECUTE ON FUNCTION reconcile_account_for(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reconcile_account_for(uuid, uuid) TO djinn_app;
