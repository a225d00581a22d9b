-- An import leg's lines summed as they are written, instead of an index of the lines by leg.
--
-- The postings trigger checks an import entry's leg on the account against the lines that
-- point at it, and read them through an index on `statement_lines (posting_id)`: an index of
-- a million entries kept for a few hundred lookups, which cost every imported line a twelfth
-- of the import. Now `statement_lines_belong`, which already reads each statement's new lines,
-- adds them to their leg's row in `import_leg_sums` (a few rows per batch), and the postings
-- trigger and reconciliation read that row. A leg's lines are all written before the leg
-- (a line cannot join a leg already written), so the row is whole when the leg is checked.
-- `ledger_violations()` checks the rows against the lines (`import_leg_sum`). The lines that
-- clear a Djinn entry keep their unique index (`statement_lines_clears_once`).

CREATE TABLE import_leg_sums (
    -- The leg on the account, before it is written.
    posting_id    uuid PRIMARY KEY,
    user_id       uuid NOT NULL,
    account_id    uuid NOT NULL,
    currency      char(3) NOT NULL,
    lines         integer NOT NULL,
    amount_minor  bigint NOT NULL,
    positive      integer NOT NULL,
    negative      integer NOT NULL,
    -- Lines of more than one account, user or currency point at the leg.
    mixed         boolean NOT NULL DEFAULT false
);
GRANT SELECT ON import_leg_sums TO djinn_app;
ALTER TABLE import_leg_sums ENABLE ROW LEVEL SECURITY;
CREATE POLICY import_leg_sums_own ON import_leg_sums TO djinn_app
    USING (user_id = (SELECT djinn_current_user_id()));

-- The legs written before. The lines are locked first: a batch still being written when the
-- migration starts commits before the sums are read, and one that starts after waits for them.
LOCK TABLE statement_lines IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO import_leg_sums (posting_id, user_id, account_id, currency, lines, amount_minor,
                             positive, negative)
SELECT l.posting_id, l.user_id, l.account_id, l.currency, count(*), sum(l.amount_minor),
       count(*) FILTER (WHERE l.amount_minor > 0), count(*) FILTER (WHERE l.amount_minor < 0)
  FROM statement_lines l
 WHERE NOT l.matched AND l.posting_id IS NOT NULL
 GROUP BY l.posting_id, l.user_id, l.account_id, l.currency;

DROP INDEX statement_lines_posting_idx;

-- As before (..._import_batch_entries.sql), adding the statement's lines to their legs' sums.
CREATE OR REPLACE FUNCTION statement_lines_belong() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM (SELECT DISTINCT import_id, user_id, account_id, currency FROM added) n
                WHERE NOT EXISTS (SELECT 1 FROM statement_imports i JOIN accounts a ON a.id = i.account_id
                                   WHERE i.id = n.import_id AND i.user_id = n.user_id
                                     AND i.account_id = n.account_id AND a.currency = n.currency)) THEN
        RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'not_registered',
            DETAIL = 'a statement line is not on its import''s account, user or currency';
    END IF;
    IF EXISTS (SELECT 1 FROM added n
                WHERE n.matched
                  AND NOT EXISTS (SELECT 1 FROM postings p JOIN transactions t ON t.id = p.transaction_id
                                   WHERE p.id = n.posting_id AND p.account_id = n.account_id
                                     AND p.amount_minor = n.amount_minor
                                     AND t.kind IN ('transfer', 'reversal') AND t.status = 'posted')) THEN
        RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'not_registered',
            DETAIL = 'a statement line clears no posted entry of its amount on its account';
    END IF;
    IF EXISTS (SELECT 1 FROM (SELECT DISTINCT posting_id FROM added WHERE NOT matched) n
                WHERE EXISTS (SELECT 1 FROM postings p WHERE p.id = n.posting_id)) THEN
        RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'not_registered',
            DETAIL = 'a statement line joins a leg already written';
    END IF;
    -- The legs' sums, with these lines. A leg's lines of two accounts, users or currencies in
    -- one statement make two rows for one leg here, which ON CONFLICT refuses; across
    -- statements they mark the leg mixed, which the postings trigger refuses.
    INSERT INTO import_leg_sums AS s (posting_id, user_id, account_id, currency, lines,
                                      amount_minor, positive, negative)
    SELECT n.posting_id, n.user_id, n.account_id, n.currency, count(*), sum(n.amount_minor),
           count(*) FILTER (WHERE n.amount_minor > 0), count(*) FILTER (WHERE n.amount_minor < 0)
      FROM added n
     WHERE NOT n.matched AND n.posting_id IS NOT NULL
     GROUP BY n.posting_id, n.user_id, n.account_id, n.currency
    ON CONFLICT (posting_id) DO UPDATE
       SET lines = s.lines + EXCLUDED.lines,
           amount_minor = s.amount_minor + EXCLUDED.amount_minor,
           positive = s.positive + EXCLUDED.positive,
           negative = s.negative + EXCLUDED.negative,
           mixed = s.mixed OR (s.user_id, s.account_id, s.currency)
                   IS DISTINCT FROM (EXCLUDED.user_id, EXCLUDED.account_id, EXCLUDED.currency);
    RETURN NULL;
END
$$;


-- As before (..._import_batch_entries.sql), an import leg checked against its lines' sum.
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
    ELSIF entry_kind = 'import' THEN
        SELECT g.* INTO registered FROM import_leg_sums g WHERE g.posting_id = NEW.id;
        IF FOUND THEN
            IF registered.mixed OR registered.account_id <> NEW.account_id
               OR registered.user_id <> NEW.user_id OR registered.currency <> NEW.currency
               OR registered.amount_minor <> NEW.amount_minor
               OR (CASE WHEN NEW.amount_minor > 0 THEN registered.negative ELSE registered.positive END) > 0 THEN
                RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'not_registered';
            END IF;
        ELSIF NOT EXISTS (SELECT 1 FROM postings p JOIN accounts a ON a.id = NEW.account_id
                           WHERE p.transaction_id = NEW.transaction_id AND p.amount_minor = -NEW.amount_minor
                             AND p.currency = NEW.currency AND a.user_id = NEW.user_id
                             AND a.kind = 'clearing' AND a.currency = NEW.currency
                             AND EXISTS (SELECT 1 FROM import_leg_sums g WHERE g.posting_id = p.id)) THEN
            RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'not_registered';
        END IF;
    ELSE
        RAISE EXCEPTION 'postings of a % entry have no registered writer', coalesce(entry_kind, 'unknown')
            USING ERRCODE = 'DJ002';
    END IF;
    RETURN NEW;
END
$$;


-- As before (..._import_batch_reads.sql), an import leg known as such by its lines' sum.
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
       AND NOT EXISTS (SELECT 1 FROM import_leg_sums g WHERE g.posting_id = p.id)
       AND NOT EXISTS (SELECT 1 FROM statement_lines s WHERE s.posting_id = p.id AND s.matched);
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


-- As before (..._import_batch_reads.sql), with the legs' sums checked against their lines, and
-- every import leg on an account having one.
ALTER FUNCTION ledger_violations() RENAME TO ledger_violations_before_leg_sums;
CREATE FUNCTION ledger_violations()
    RETURNS TABLE (violation text, subject uuid, detail text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
    SELECT * FROM ledger_violations_before_leg_sums()
    UNION ALL
    SELECT 'import_leg_sum', g.posting_id,
           g.lines || ' lines of ' || g.amount_minor || ' <> ' || count(l.id) || ' of ' || coalesce(sum(l.amount_minor), 0)
      FROM import_leg_sums g
      LEFT JOIN statement_lines l ON l.posting_id = g.posting_id AND NOT l.matched
     GROUP BY g.posting_id, g.lines, g.amount_minor
    HAVING count(l.id) <> g.lines OR coalesce(sum(l.amount_minor), 0) <> g.amount_minor
    UNION ALL
    SELECT 'import_leg_sum', p.id, 'an import leg with no kept sum'
      FROM postings p JOIN transactions t ON t.id = p.transaction_id AND t.kind = 'import'
      JOIN accounts a ON a.id = p.account_id AND a.kind <> 'clearing'
     WHERE NOT EXISTS (SELECT 1 FROM import_leg_sums g WHERE g.posting_id = p.id)
$$;
REVOKE EXECUTE ON FUNCTION ledger_violations() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_violations() TO djinn_app;
