-- The import's write path at the speed of the table it writes (docs/BENCHMARKS.md):
-- - A batch's lines are written without checking each against the unique index first (the
--   check cost as much as the write): the index itself refuses a bank id the account has, and
--   only then is the batch written again, skipping the lines the account has.
-- - The lines lose their index by (account, day). The nightly reconciliation reads an
--   account's whole history, and a period asked for by hand reads the account's lines through
--   the (account, bank id) index: an account holds thousands of lines a year. The index cost
--   every imported line a seventh of the import.
-- - The stored file is compressed with LZ4 where the server has it, as fast as a copy, where
--   the default (pglz) took half a second for a 40 MB statement each way.
-- - An import whose file was read whole when it was registered says so (`checked_at`), and the
--   worker does not read it whole again before writing.

DROP INDEX statement_lines_account_day_idx;

DO $$
BEGIN
    ALTER TABLE statement_files ALTER COLUMN content SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this server has no LZ4: statement files stay compressed with pglz';
END
$$;

ALTER TABLE statement_imports ADD COLUMN checked_at timestamptz;
GRANT UPDATE (checked_at) ON statement_imports TO djinn_app;

-- As before (..._import_batch_entries.sql), writing the lines without a check before each.
CREATE OR REPLACE FUNCTION ledger_import_batch_for(
    p_user_id       uuid,
    p_import_id     uuid,
    p_first         integer,
    p_clearing_id   uuid,
    p_entry_ids     uuid[],
    p_leg_ids       uuid[],
    p_line_ids      uuid[],
    p_bank_ids      text[],
    p_booked_on     date[],
    p_amounts       bigint[],
    p_descriptions  text[]
) RETURNS TABLE (outcome text, lines_done integer, lines_matched integer, lines_posted integer)
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
    imp               record;
    account_currency  char(3);
    clearing          uuid;
    line              record;
    entry             uuid;
    matched_lines     uuid[] := '{}';
    matched_postings  uuid[] := '{}';
    matched_count     integer;
    posted_count      integer;
    money_in          bigint;
    money_out         bigint;
    last_day          date;
    -- The batch's lines, written to the account: `%s` is empty, or how a bank id the account
    -- has already is skipped. $1 to $12 are given by USING, in the order of the columns.
    write_lines       text := $write$
        WITH added AS (
            INSERT INTO statement_lines (id, user_id, account_id, import_id, bank_id, booked_on,
                                         amount_minor, currency, description, posting_id, matched)
            SELECT b.id, $1, $2, $3, b.bank_id, b.booked_on, b.amount, $4, b.description,
                   coalesce($6[array_position($5, b.id)],
                            CASE WHEN b.amount > 0 THEN $7[1] WHEN b.amount < 0 THEN $7[2] END),
                   b.id = ANY ($5)
              FROM unnest($8, $9, $10, $11, $12)
                   WITH ORDINALITY AS b(id, bank_id, booked_on, amount, description, ord)
             ORDER BY b.ord
            %s
            RETURNING amount_minor, matched, booked_on
        )
        SELECT count(*) FILTER (WHERE a.matched),
               count(*) FILTER (WHERE NOT a.matched AND a.amount_minor <> 0),
               coalesce(sum(a.amount_minor) FILTER (WHERE NOT a.matched AND a.amount_minor > 0), 0),
               coalesce(sum(a.amount_minor) FILTER (WHERE NOT a.matched AND a.amount_minor < 0), 0),
               max(a.booked_on) FILTER (WHERE NOT a.matched AND a.amount_minor <> 0)
          FROM added a
    $write$;
BEGIN
    PERFORM set_config('djinn.user_id', p_user_id::text, true);
    SELECT i.* INTO imp FROM statement_imports i
     WHERE i.id = p_import_id AND i.user_id = p_user_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'import_not_found', 0, 0, 0;
        RETURN;
    ELSIF imp.status <> 'running' OR p_first < imp.lines_done THEN
        RETURN QUERY SELECT CASE WHEN imp.status <> 'running' THEN 'not_running' ELSE 'already_written' END,
                            imp.lines_done, imp.lines_matched, imp.lines_posted;
        RETURN;
    ELSIF p_first > imp.lines_done THEN
        RAISE EXCEPTION 'import %: batch at line % but % lines are written', p_import_id, p_first, imp.lines_done
            USING ERRCODE = 'DJ002';
    ELSIF cardinality(p_entry_ids) IS DISTINCT FROM 2 OR cardinality(p_leg_ids) IS DISTINCT FROM 4 THEN
        RAISE EXCEPTION 'import %: a batch has two entries of two legs', p_import_id
            USING ERRCODE = 'DJ002';
    END IF;
    -- One batch at a time per account: two imports of overlapping statements would otherwise
    -- both see an entry unclaimed. The account's balance row first, then the clearing one's,
    -- always in that order (transfers never touch a clearing account).
    PERFORM 1 FROM account_balances b WHERE b.account_id = imp.account_id FOR UPDATE;
    SELECT a.currency INTO account_currency FROM accounts a WHERE a.id = imp.account_id;
    SELECT a.id INTO clearing FROM accounts a
     WHERE a.user_id = p_user_id AND a.currency = account_currency AND a.kind = 'clearing';
    IF clearing IS NULL THEN
        INSERT INTO accounts (id, user_id, name, kind, currency)
        VALUES (p_clearing_id, p_user_id, 'External clearing', 'clearing', account_currency);
        INSERT INTO account_balances (account_id, user_id, floor_minor) VALUES (p_clearing_id, p_user_id, NULL);
        clearing := p_clearing_id;
    END IF;

    -- Clear entries made in Djinn: each new line whose amount an unclaimed entry has takes the
    -- nearest one in time that no line has taken, in the order of the file. Only such lines
    -- (few: a statement's lines are mostly the bank's own) go through this loop.
    FOR line IN
        SELECT c.id, c.booked_on, c.amount FROM (
            SELECT DISTINCT ON (b.bank_id) b.id, b.booked_on, b.amount, b.ord
              FROM unnest(p_line_ids, p_bank_ids, p_booked_on, p_amounts)
                   WITH ORDINALITY AS b(id, bank_id, booked_on, amount, ord)
             WHERE b.amount IN (SELECT p.amount_minor FROM postings p JOIN transactions t ON t.id = p.transaction_id
                                 WHERE p.account_id = imp.account_id AND t.kind IN ('transfer', 'reversal')
                                   AND t.status = 'posted'
                                   AND NOT EXISTS (SELECT 1 FROM statement_lines s
                                                    WHERE s.posting_id = p.id AND s.matched))
               AND NOT EXISTS (SELECT 1 FROM statement_lines s
                                WHERE s.account_id = imp.account_id AND s.bank_id = b.bank_id)
             ORDER BY b.bank_id, b.ord) c
         ORDER BY c.ord
    LOOP
        SELECT p.id INTO entry
          FROM postings p JOIN transactions t ON t.id = p.transaction_id
         WHERE p.account_id = imp.account_id AND p.amount_minor = line.amount
           AND t.kind IN ('transfer', 'reversal') AND t.status = 'posted'
           AND abs((t.effective_at AT TIME ZONE 'UTC')::date - line.booked_on) <= statement_match_days()
           AND NOT EXISTS (SELECT 1 FROM statement_lines s WHERE s.posting_id = p.id AND s.matched)
           AND p.id <> ALL (matched_postings)
         ORDER BY abs((t.effective_at AT TIME ZONE 'UTC')::date - line.booked_on), p.id
         LIMIT 1;
        IF entry IS NOT NULL THEN
            matched_lines := matched_lines || line.id;
            matched_postings := matched_postings || entry;
        END IF;
    END LOOP;

    -- The lines, each once per account: a cleared line points at the entry it cleared, a posted
    -- one at its leg of the batch's entry. Lines new to the account (a statement's first import)
    -- are written as they come, the unique index on (account, bank id) refusing a bank id the
    -- account has; only a batch it refuses (a re-import, an overlapping statement, a bank id the
    -- batch repeats) is written again, skipping those lines and keeping the first of each bank
    -- id. Checking every line before writing it cost a fifth of the whole import.
    BEGIN
        EXECUTE format(write_lines, '')
           INTO matched_count, posted_count, money_in, money_out, last_day
          USING p_user_id, imp.account_id, p_import_id, account_currency, matched_lines,
                matched_postings, p_leg_ids, p_line_ids, p_bank_ids, p_booked_on, p_amounts,
                p_descriptions;
    EXCEPTION WHEN unique_violation THEN
        EXECUTE format(write_lines, 'ON CONFLICT (account_id, bank_id) DO NOTHING')
           INTO matched_count, posted_count, money_in, money_out, last_day
          USING p_user_id, imp.account_id, p_import_id, account_currency, matched_lines,
                matched_postings, p_leg_ids, p_line_ids, p_bank_ids, p_booked_on, p_amounts,
                p_descriptions;
    END;

    INSERT INTO transactions (id, user_id, kind, status, idempotency_key, workflow_id,
                              description, effective_at)
    SELECT e.id, p_user_id, 'import', 'posted', 'statement:' || p_import_id || ':' || p_first || ':' || e.way,
           imp.workflow_id,
           format('Bank statement lines %s to %s, money %s', p_first + 1,
                  p_first + cardinality(p_line_ids), e.way),
           last_day::timestamp AT TIME ZONE 'UTC'
      FROM (VALUES (1, p_entry_ids[1], 'in', money_in), (2, p_entry_ids[2], 'out', money_out))
           AS e(n, id, way, amount)
     WHERE e.amount <> 0 ORDER BY e.n;
    -- The account's legs first: the clearing legs are checked against them.
    INSERT INTO postings (id, transaction_id, user_id, account_id, amount_minor, currency)
    SELECT leg.id, leg.entry, p_user_id, imp.account_id, leg.amount, account_currency
      FROM (VALUES (p_leg_ids[1], p_entry_ids[1], money_in), (p_leg_ids[2], p_entry_ids[2], money_out))
           AS leg(id, entry, amount)
     WHERE leg.amount <> 0;
    INSERT INTO postings (id, transaction_id, user_id, account_id, amount_minor, currency)
    SELECT leg.id, leg.entry, p_user_id, clearing, leg.amount, account_currency
      FROM (VALUES (p_leg_ids[3], p_entry_ids[1], -money_in), (p_leg_ids[4], p_entry_ids[2], -money_out))
           AS leg(id, entry, amount)
     WHERE leg.amount <> 0;
    IF posted_count > 0 THEN
        PERFORM account_entries_of_import(p_user_id, p_entry_ids);
    END IF;

    UPDATE statement_imports i
       SET lines_done = i.lines_done + coalesce(cardinality(p_line_ids), 0),
           lines_matched = i.lines_matched + matched_count,
           lines_posted = i.lines_posted + posted_count,
           updated_at = now()
     WHERE i.id = p_import_id
    RETURNING 'written', i.lines_done, i.lines_matched, i.lines_posted
      INTO outcome, lines_done, lines_matched, lines_posted;
    RETURN NEXT;
END
$$;

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION %s SET lock_timeout = %L',
                   'ledger_import_batch_for(uuid, uuid, integer, uuid, uuid[], uuid[], uuid[], text[], date[], bigint[], text[])',
                   djinn_lock_timeout());
END
$$;
