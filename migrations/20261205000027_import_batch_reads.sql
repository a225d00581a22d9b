-- Reading an import's lines where one entry holds a batch of them
-- (..._import_batch_entries.sql): the ledger's checks of an import entry's detail, and
-- reconciliation reading the lines once.

-- As before (..._account_entries.sql), with the import entries' detail: each leg of an import
-- entry on an account is the sum of the lines that point at it, and the leg a line points at
-- exists. (A line with no leg at all is one the ledger lacks: reconciliation reports it.)
ALTER FUNCTION ledger_violations() RENAME TO ledger_violations_before_import_batches;
CREATE FUNCTION ledger_violations()
    RETURNS TABLE (violation text, subject uuid, detail text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
    SELECT * FROM ledger_violations_before_import_batches()
    UNION ALL
    SELECT 'import_leg_lines', p.id, p.amount_minor || ' <> ' || coalesce(sum(l.amount_minor), 0)
      FROM postings p JOIN transactions t ON t.id = p.transaction_id AND t.kind = 'import'
      JOIN accounts a ON a.id = p.account_id AND a.kind <> 'clearing'
      LEFT JOIN statement_lines l ON l.posting_id = p.id AND NOT l.matched
     GROUP BY p.id, p.amount_minor
    HAVING coalesce(sum(l.amount_minor), 0) <> p.amount_minor
    UNION ALL
    SELECT 'line_without_leg', l.id, l.posting_id::text
      FROM statement_lines l
     WHERE l.posting_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM postings p WHERE p.id = l.posting_id)
$$;
REVOKE EXECUTE ON FUNCTION ledger_violations() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_violations() TO djinn_app;

-- As before (..._reconciliation.sql), reading the lines grouped by their leg: the lines matched
-- by bank id (those whose leg is posted) are counted per leg, not joined one by one; and the
-- ledger's balance at the statement's closing day counts an import entry's lines by their own
-- days, since one entry holds a batch's lines of many days.
--
-- Its plans are hashes, whatever the statistics: right after a million-line import the table
-- has none yet, and a plan that takes the lines for one row sorts them on disk to group them.
CREATE OR REPLACE FUNCTION reconcile_account_for(p_user_id uuid, p_run_id uuid)
    RETURNS TABLE (outcome text, matched integer, missing integer, unexpected integer)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET enable_sort = off
AS $$
DECLARE
    run          record;
    period_start timestamptz;
    period_end   timestamptz;
    by_id        integer;
    unposted     uuid[];
    unlinked     boolean;
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

    -- What is left on either side, in tables of the transaction's own.
    CREATE TEMP TABLE reconcile_missing (id uuid PRIMARY KEY, booked_on date, amount bigint)
        ON COMMIT DROP;
    CREATE TEMP TABLE reconcile_extra (id uuid PRIMARY KEY, on_day date, amount bigint)
        ON COMMIT DROP;
    -- By bank id: the line's own leg, posted. The lines are grouped by leg in one pass (a few
    -- legs hold a million lines of an import) and only the groups meet the ledger, so that no
    -- plan, whatever the statistics, visits the ledger once per line. The lines of the groups
    -- with no posted leg (usually none) are what the ledger lacks.
    -- (A table made from a query may read in parallel, as the query alone would; a query read
    -- INTO variables may not.)
    CREATE TEMP TABLE reconcile_legs ON COMMIT DROP AS
    SELECT l.posting_id, count(*) AS lines FROM statement_lines l
     WHERE l.account_id = run.account_id AND l.booked_on BETWEEN run.period_from AND run.period_to
     GROUP BY l.posting_id;
    SELECT coalesce(sum(g.lines) FILTER (WHERE leg.id IS NOT NULL), 0),
           coalesce(array_agg(g.posting_id) FILTER (WHERE leg.id IS NULL AND g.posting_id IS NOT NULL), '{}'),
           coalesce(bool_or(g.posting_id IS NULL), false)
      INTO by_id, unposted, unlinked
      FROM reconcile_legs g
      LEFT JOIN (SELECT p.id FROM postings p JOIN transactions t ON t.id = p.transaction_id
                  WHERE p.account_id = run.account_id AND t.status = 'posted') leg
             ON leg.id = g.posting_id;
    IF unlinked OR cardinality(unposted) > 0 THEN
        INSERT INTO reconcile_missing
        SELECT l.id, l.booked_on, l.amount_minor FROM statement_lines l
         WHERE l.account_id = run.account_id AND l.booked_on BETWEEN run.period_from AND run.period_to
           AND l.amount_minor <> 0 AND (l.posting_id IS NULL OR l.posting_id = ANY (unposted));
    END IF;
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
         WHERE p.account_id = run.account_id AND t.status = 'posted' AND t.kind <> 'import'
           AND t.effective_at < (closing.closing_on + 1)::timestamp AT TIME ZONE 'UTC';
        ledger_at := ledger_at + (
            SELECT coalesce(sum(g.amount_minor), 0)
              FROM (SELECT l.posting_id, sum(l.amount_minor) AS amount_minor FROM statement_lines l
                     WHERE l.account_id = run.account_id AND NOT l.matched
                       AND l.booked_on <= closing.closing_on
                     GROUP BY l.posting_id) g
              JOIN postings p ON p.id = g.posting_id
              JOIN transactions t ON t.id = p.transaction_id AND t.kind = 'import' AND t.status = 'posted');
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

-- The row-level security policies' one function reads a setting, which parallel workers share
-- with their leader (as `current_setting` itself is): declared so, a scan under a policy may
-- read in parallel, as the reconciliation's pass over a million lines does.
ALTER FUNCTION djinn_current_user_id() PARALLEL SAFE;

-- The lines' policy reads the user once per statement (an InitPlan), not once per row: a scan
-- of a million lines otherwise parses the setting into a uuid a million times.
ALTER POLICY statement_lines_own ON statement_lines
    USING (user_id = (SELECT djinn_current_user_id()))
    WITH CHECK (user_id = (SELECT djinn_current_user_id()));
