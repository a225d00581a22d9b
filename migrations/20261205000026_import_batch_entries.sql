-- An import's lines posted as one journal entry per batch, not one per line.
--
-- A line was a journal entry of its own: a transaction, two postings and two history rows, with
-- some twenty row triggers and foreign-key checks, for each line of a statement. A million-line
-- statement took twelve minutes. Now:
-- - A batch's posted lines make at most two journal entries of kind `import`: the lines that
--   brought money in, and those that took it out, each entry's leg on the account their sum and
--   its leg on the user's clearing account the opposite. Each posted line points at its leg
--   (`posting_id`), so the lines are the entry's detail, and a leg is exactly the sum of its
--   lines: the postings trigger checks it when the leg is written, `ledger_violations()` after.
-- - A line that clears an entry made in Djinn points at that entry's leg (`matched`), once.
-- - The lines' integrity is checked once per statement (`statement_lines_belong`, on the set of
--   rows the statement added) instead of by four foreign keys checked row by row: each line is
--   its import's, on its account, in its currency; a cleared leg is a posted Djinn leg of that
--   account with the line's amount; a posted line points at a leg not written yet (its batch's).
--   Nothing deletes the rows the lines refer to: accounts, imports and postings are append-only.

ALTER TABLE statement_lines
    DROP CONSTRAINT statement_lines_account_id_user_id_currency_fkey,
    DROP CONSTRAINT statement_lines_import_id_user_id_fkey,
    DROP CONSTRAINT statement_lines_posting_id_fkey,
    DROP CONSTRAINT statement_lines_user_id_fkey,
    DROP CONSTRAINT statement_lines_posting_id_key;
-- A Djinn entry is cleared by one line at most; a batch's leg has many lines.
CREATE UNIQUE INDEX statement_lines_clears_once ON statement_lines (posting_id) WHERE matched;
CREATE INDEX statement_lines_posting_idx ON statement_lines (posting_id);

CREATE FUNCTION statement_lines_belong() RETURNS trigger
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
    RETURN NULL;
END
$$;
CREATE TRIGGER statement_lines_belong AFTER INSERT ON statement_lines
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION statement_lines_belong();

-- As before (..._statement_imports.sql), with an import entry's legs: on the account, the sum of
-- the lines that point at the leg, all of one sign; on the user's clearing account in the
-- currency, the opposite of the entry's leg on the account.
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
        SELECT count(*) AS lines, count(*) FILTER (WHERE l.account_id <> NEW.account_id
                                                  OR l.user_id <> NEW.user_id
                                                  OR l.currency <> NEW.currency
                                                  OR sign(l.amount_minor) <> sign(NEW.amount_minor)) AS foreign_lines,
               coalesce(sum(l.amount_minor), 0) AS amount_minor
          INTO registered
          FROM statement_lines l
         WHERE l.posting_id = NEW.id AND NOT l.matched;
        IF registered.lines > 0 THEN
            IF registered.foreign_lines > 0 OR registered.amount_minor <> NEW.amount_minor THEN
                RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'not_registered';
            END IF;
        ELSIF NOT EXISTS (SELECT 1 FROM postings p JOIN accounts a ON a.id = NEW.account_id
                           WHERE p.transaction_id = NEW.transaction_id AND p.amount_minor = -NEW.amount_minor
                             AND p.currency = NEW.currency AND a.user_id = NEW.user_id
                             AND a.kind = 'clearing' AND a.currency = NEW.currency
                             AND EXISTS (SELECT 1 FROM statement_lines l
                                          WHERE l.posting_id = p.id AND NOT l.matched)) THEN
            RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'not_registered';
        END IF;
    ELSE
        RAISE EXCEPTION 'postings of a % entry have no registered writer', coalesce(entry_kind, 'unknown')
            USING ERRCODE = 'DJ002';
    END IF;
    RETURN NEW;
END
$$;

-- Replaced by `ledger_import_batch_for`, under another name: its arguments have the same types in
-- another sense, and a worker of the release before must fail loudly, not write a batch wrongly.
DROP FUNCTION ledger_import_lines_for(uuid, uuid, integer, uuid, uuid[], uuid[], uuid[], text[], date[], bigint[], text[]);

-- Writes one batch of an import's lines: the batch that starts at line `p_first` (0-based),
-- which must be the next one (`lines_done`); an earlier batch (a retry of one that committed)
-- writes nothing and answers `already_written`. Each line new to the account is kept; a new
-- line that matches an entry made in Djinn clears it; the other new lines with an amount are
-- posted against the user's clearing account (created with `p_clearing_id` on first use) as the
-- batch's entries `p_entry_ids`: the money in, then the money out. Their legs' ids are
-- `p_leg_ids`: the two entries' legs on the account, then their legs on the clearing account.
-- Every id comes from the caller (UUIDv7, made in Rust). Answers the import's counters after the batch. A batch that would take the
-- account below its floor fails whole (check_violation on `available_above_floor`).
CREATE FUNCTION ledger_import_batch_for(
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

    -- The lines, each once per account (the first of any bank id the batch repeats): a cleared
    -- line points at the entry it cleared, a posted one at its leg of the batch's entry.
    WITH added AS (
        INSERT INTO statement_lines (id, user_id, account_id, import_id, bank_id, booked_on,
                                     amount_minor, currency, description, posting_id, matched)
        SELECT b.id, p_user_id, imp.account_id, p_import_id, b.bank_id, b.booked_on, b.amount,
               account_currency, b.description,
               coalesce(matched_postings[array_position(matched_lines, b.id)],
                        CASE WHEN b.amount > 0 THEN p_leg_ids[1] WHEN b.amount < 0 THEN p_leg_ids[2] END),
               b.id = ANY (matched_lines)
          FROM unnest(p_line_ids, p_bank_ids, p_booked_on, p_amounts, p_descriptions)
               WITH ORDINALITY AS b(id, bank_id, booked_on, amount, description, ord)
         ORDER BY b.ord
        ON CONFLICT (account_id, bank_id) DO NOTHING
        RETURNING amount_minor, matched, booked_on
    )
    SELECT count(*) FILTER (WHERE a.matched),
           count(*) FILTER (WHERE NOT a.matched AND a.amount_minor <> 0),
           coalesce(sum(a.amount_minor) FILTER (WHERE NOT a.matched AND a.amount_minor > 0), 0),
           coalesce(sum(a.amount_minor) FILTER (WHERE NOT a.matched AND a.amount_minor < 0), 0),
           max(a.booked_on) FILTER (WHERE NOT a.matched AND a.amount_minor <> 0)
      INTO matched_count, posted_count, money_in, money_out, last_day
      FROM added a;

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
GRANT CREATE ON SCHEMA public TO djinn_app;
ALTER FUNCTION ledger_import_batch_for(uuid, uuid, integer, uuid, uuid[], uuid[], uuid[], text[], date[], bigint[], text[]) OWNER TO djinn_app;
REVOKE CREATE ON SCHEMA public FROM djinn_app;
REVOKE EXECUTE ON FUNCTION ledger_import_batch_for(uuid, uuid, integer, uuid, uuid[], uuid[], uuid[], text[], date[], bigint[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_import_batch_for(uuid, uuid, integer, uuid, uuid[], uuid[], uuid[], text[], date[], bigint[], text[]) TO djinn_app;
