-- Bank statements imported into the ledger, exactly once.
--
-- - The file is kept here (`statement_files`), never in workflow history: the import workflow
--   carries the import's id. An import is registered once per (user, key).
-- - A statement line is kept once per account and bank id (`statement_lines`: OFX FITID, CAMT
--   reference, or for CSV a stable hash of the row), so a re-imported file or an overlapping
--   statement adds nothing twice.
-- - A new line that matches an entry made in Djinn (same amount on the account, booked within
--   `statement_match_days()` of it, posted, not yet matched by another line) clears that entry:
--   the line points at its posting and nothing is posted. Any other line is posted as a journal
--   entry of kind `import` against the user's external clearing account in the currency; the
--   entry's id is the line's, and the postings trigger accepts its legs only as the line says.
-- - `ledger_import_lines_for` writes one batch of lines in one transaction, and only the batch
--   after the last one written (`statement_imports.lines_done`): a retried batch writes nothing.

CREATE TABLE statement_files (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id),
    content     bytea NOT NULL,
    sha256      bytea NOT NULL CHECK (length(sha256) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, user_id)
);

CREATE TABLE statement_imports (
    id               uuid PRIMARY KEY,
    user_id          uuid NOT NULL REFERENCES users (id),
    account_id       uuid NOT NULL,
    file_id          uuid NOT NULL,
    idempotency_key  text NOT NULL,
    format           text NOT NULL CHECK (format IN ('csv', 'ofx', 'camt053')),
    -- The CSV profile as JSON: a built-in one's settings or the mapping given with the upload.
    csv_profile      text,
    workflow_id      text NOT NULL UNIQUE,
    status           text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
    lines_total      integer NOT NULL DEFAULT 0 CHECK (lines_total >= 0),
    lines_done       integer NOT NULL DEFAULT 0 CHECK (lines_done BETWEEN 0 AND lines_total),
    lines_matched    integer NOT NULL DEFAULT 0 CHECK (lines_matched >= 0),
    lines_posted     integer NOT NULL DEFAULT 0 CHECK (lines_posted >= 0),
    -- The balances the file states, and its last booked day (reconciliation compares them).
    opening_minor    bigint,
    closing_minor    bigint,
    closing_on       date,
    failure_code     text,
    failure_message  text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, idempotency_key),
    UNIQUE (id, user_id),
    CHECK (lines_matched + lines_posted <= lines_done),
    FOREIGN KEY (account_id, user_id) REFERENCES accounts (id, user_id),
    FOREIGN KEY (file_id, user_id) REFERENCES statement_files (id, user_id)
);
CREATE INDEX statement_imports_account_idx ON statement_imports (account_id, closing_on);

CREATE TABLE statement_lines (
    -- Also the id of the journal entry the line posted, when it posted one.
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id),
    account_id     uuid NOT NULL,
    import_id      uuid NOT NULL,
    bank_id        text NOT NULL CHECK (length(bank_id) BETWEEN 1 AND 200),
    booked_on      date NOT NULL,
    amount_minor   bigint NOT NULL,
    currency       char(3) NOT NULL,
    description    text,
    -- The account's leg this line is: posted by the import, or an entry made in Djinn that it
    -- cleared (`matched`). NULL for a line of no amount; a line with an amount and no posting
    -- is one the ledger lacks, which reconciliation reports.
    posting_id     uuid UNIQUE,
    matched        boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, bank_id),
    CHECK (amount_minor <> 0 OR posting_id IS NULL),
    FOREIGN KEY (account_id, user_id, currency) REFERENCES accounts (id, user_id, currency),
    FOREIGN KEY (import_id, user_id) REFERENCES statement_imports (id, user_id),
    -- Deferred: a posted line is written before the postings that the trigger checks against it.
    FOREIGN KEY (posting_id) REFERENCES postings (id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX statement_lines_account_day_idx ON statement_lines (account_id, booked_on);

-- Matching a line to an entry made in Djinn looks for postings of the account by amount.
CREATE INDEX postings_account_amount_idx ON postings (account_id, amount_minor);

GRANT SELECT, INSERT ON statement_files, statement_imports, statement_lines TO djinn_app;
GRANT UPDATE (status, lines_total, lines_done, lines_matched, lines_posted, opening_minor,
              closing_minor, closing_on, failure_code, failure_message, updated_at)
    ON statement_imports TO djinn_app;
ALTER TABLE statement_files ENABLE ROW LEVEL SECURITY;
ALTER TABLE statement_imports ENABLE ROW LEVEL SECURITY;
ALTER TABLE statement_lines ENABLE ROW LEVEL SECURITY;
CREATE POLICY statement_files_own ON statement_files TO djinn_app
    USING (user_id = djinn_current_user_id()) WITH CHECK (user_id = djinn_current_user_id());
CREATE POLICY statement_imports_own ON statement_imports TO djinn_app
    USING (user_id = djinn_current_user_id()) WITH CHECK (user_id = djinn_current_user_id());
CREATE POLICY statement_lines_own ON statement_lines TO djinn_app
    USING (user_id = djinn_current_user_id()) WITH CHECK (user_id = djinn_current_user_id());

-- How many days apart a bank's booking and a Djinn entry may be and still be the same money.
CREATE FUNCTION statement_match_days() RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT 3 $$;

-- As before (..._reversals.sql), with the legs of an import's entry: the line's amount on its
-- account, and the opposite on the user's clearing account in the line's currency.
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
        SELECT l.account_id, l.amount_minor, l.currency::text AS currency, l.matched
          INTO registered
          FROM statement_lines l
         WHERE l.id = NEW.transaction_id AND l.user_id = NEW.user_id;
        IF NOT FOUND OR registered.matched OR registered.currency <> NEW.currency::text
           OR NOT ((NEW.account_id = registered.account_id AND NEW.amount_minor = registered.amount_minor)
                OR (NEW.amount_minor = -registered.amount_minor
                    AND EXISTS (SELECT 1 FROM accounts a
                                 WHERE a.id = NEW.account_id AND a.user_id = NEW.user_id
                                   AND a.kind = 'clearing'))) THEN
            RAISE EXCEPTION USING ERRCODE = 'DJ001', MESSAGE = 'not_registered';
        END IF;
    ELSE
        RAISE EXCEPTION 'postings of a % entry have no registered writer', coalesce(entry_kind, 'unknown')
            USING ERRCODE = 'DJ002';
    END IF;
    RETURN NEW;
END
$$;

-- An import writes its entries' history rows itself, in the order of its lines and with each
-- one's running balance (`account_entries_of_import`); the deferred trigger, which would give
-- every entry of a batch the balance at commit, leaves a posting that has its row alone.
CREATE OR REPLACE FUNCTION account_entries_on_posting() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = public, pg_temp
AS $$
DECLARE
    entry_status  text;
    next_position bigint;
    posted        bigint;
BEGIN
    IF EXISTS (SELECT 1 FROM account_entries WHERE posting_id = NEW.id) THEN
        RETURN NULL;
    END IF;
    SELECT status INTO entry_status FROM transactions WHERE id = NEW.transaction_id;
    UPDATE account_balances SET entry_seq = entry_seq + 1 WHERE account_id = NEW.account_id
    RETURNING entry_seq, posted_minor INTO next_position, posted;
    INSERT INTO account_entries (posting_id, account_id, user_id, transaction_id, position, status,
                                 balance_after_minor, posted_at)
    VALUES (NEW.id, NEW.account_id, NEW.user_id, NEW.transaction_id, next_position, entry_status,
            CASE WHEN entry_status = 'posted' THEN posted END,
            CASE WHEN entry_status = 'posted' THEN clock_timestamp() END);
    RETURN NULL;
END
$$;

-- The history rows of a batch of import entries (given in line order), each account's from
-- its balance before the batch, which the caller has not yet moved; then the balances move.
-- Runs as the tables' owner, as the history's triggers do, and writes only rows derived from
-- the user's postings of those entries.
CREATE FUNCTION account_entries_of_import(p_user_id uuid, p_transaction_ids uuid[])
    RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
    WITH legs AS (
        SELECT p.id, p.account_id, p.transaction_id, p.amount_minor, b.posted_minor, b.entry_seq,
               row_number() OVER w AS nth, sum(p.amount_minor) OVER w AS running
          FROM unnest(p_transaction_ids) WITH ORDINALITY AS e(id, ord)
          JOIN postings p ON p.transaction_id = e.id AND p.user_id = p_user_id
          JOIN transactions t ON t.id = e.id AND t.kind = 'import' AND t.status = 'posted'
          JOIN account_balances b ON b.account_id = p.account_id
        WINDOW w AS (PARTITION BY p.account_id ORDER BY e.ord)
    ), entries AS (
        INSERT INTO account_entries (posting_id, account_id, user_id, transaction_id, position,
                                     status, balance_after_minor, posted_at)
        SELECT id, account_id, p_user_id, transaction_id, entry_seq + nth, 'posted',
               posted_minor + running, clock_timestamp()
          FROM legs
        RETURNING account_id, position, balance_after_minor
    ), moved AS (
        SELECT DISTINCT ON (account_id) account_id, position, balance_after_minor
          FROM entries ORDER BY account_id, position DESC
    )
    UPDATE account_balances b
       SET posted_minor = m.balance_after_minor, entry_seq = m.position, updated_at = now()
      FROM moved m
     WHERE b.account_id = m.account_id;
END
$$;
REVOKE EXECUTE ON FUNCTION account_entries_of_import(uuid, uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION account_entries_of_import(uuid, uuid[]) TO djinn_app;

-- Writes one batch of an import's lines: the batch that starts at line `p_first` (0-based),
-- which must be the next one (`lines_done`); an earlier batch (a retry of one that committed)
-- writes nothing and answers `already_written`. Each line new to the account is kept; a new
-- line that matches an entry made in Djinn clears it; any other new line with an amount is
-- posted against the user's clearing account (created with `p_clearing_id` on first use). The
-- ids of the lines and of their two legs come from the caller (UUIDv7, made in Rust). Answers
-- the import's counters after the batch. A batch that would take the account below its floor
-- fails whole (check_violation on `available_above_floor`).
CREATE FUNCTION ledger_import_lines_for(
    p_user_id              uuid,
    p_import_id            uuid,
    p_first                integer,
    p_clearing_id          uuid,
    p_line_ids             uuid[],
    p_posting_ids          uuid[],
    p_clearing_posting_ids uuid[],
    p_bank_ids             text[],
    p_booked_on            date[],
    p_amounts              bigint[],
    p_descriptions         text[]
) RETURNS TABLE (outcome text, lines_done integer, lines_matched integer, lines_posted integer)
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
    imp        record;
    account_currency  char(3);
    clearing   uuid;
    posted_ids uuid[];
    matched_count  integer := 0;
    line       record;
    entry      uuid;
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

    -- The batch's lines new to the account (the first of any bank id it repeats), in a table
    -- of the transaction's own, where each is matched before any is written.
    CREATE TEMP TABLE import_batch ON COMMIT DROP AS
    SELECT DISTINCT ON (b.bank_id) b.ord, b.id, b.posting_id, b.clearing_posting_id, b.bank_id,
           b.booked_on, b.amount, b.description, NULL::uuid AS matched_posting
      FROM unnest(p_line_ids, p_posting_ids, p_clearing_posting_ids, p_bank_ids, p_booked_on,
                  p_amounts, p_descriptions)
           WITH ORDINALITY AS b(id, posting_id, clearing_posting_id, bank_id, booked_on, amount,
                                description, ord)
     WHERE NOT EXISTS (SELECT 1 FROM statement_lines s
                        WHERE s.account_id = imp.account_id AND s.bank_id = b.bank_id)
     ORDER BY b.bank_id, b.ord;

    -- Clear entries made in Djinn: each new line with a candidate takes the nearest one in time
    -- that no line has taken, in the order of the file.
    FOR line IN
        SELECT n.id, n.booked_on, n.amount FROM import_batch n
         WHERE n.amount <> 0
           AND EXISTS (SELECT 1 FROM postings p JOIN transactions t ON t.id = p.transaction_id
                        WHERE p.account_id = imp.account_id AND p.amount_minor = n.amount
                          AND t.kind IN ('transfer', 'reversal') AND t.status = 'posted')
         ORDER BY n.ord
    LOOP
        SELECT p.id INTO entry
          FROM postings p JOIN transactions t ON t.id = p.transaction_id
         WHERE p.account_id = imp.account_id AND p.amount_minor = line.amount
           AND t.kind IN ('transfer', 'reversal') AND t.status = 'posted'
           AND abs((t.effective_at AT TIME ZONE 'UTC')::date - line.booked_on) <= statement_match_days()
           AND NOT EXISTS (SELECT 1 FROM statement_lines s WHERE s.posting_id = p.id)
           AND NOT EXISTS (SELECT 1 FROM import_batch m WHERE m.matched_posting = p.id)
         ORDER BY abs((t.effective_at AT TIME ZONE 'UTC')::date - line.booked_on), p.id
         LIMIT 1;
        IF entry IS NOT NULL THEN
            UPDATE import_batch SET matched_posting = entry WHERE id = line.id;
            matched_count := matched_count + 1;
        END IF;
    END LOOP;

    INSERT INTO statement_lines (id, user_id, account_id, import_id, bank_id, booked_on,
                                 amount_minor, currency, description, posting_id, matched)
    SELECT n.id, p_user_id, imp.account_id, p_import_id, n.bank_id, n.booked_on, n.amount,
           account_currency, n.description,
           CASE WHEN n.matched_posting IS NOT NULL THEN n.matched_posting
                WHEN n.amount <> 0 THEN n.posting_id END,
           n.matched_posting IS NOT NULL
      FROM import_batch n ORDER BY n.ord;
    SELECT coalesce(array_agg(n.id ORDER BY n.ord), '{}') INTO posted_ids
      FROM import_batch n WHERE n.matched_posting IS NULL AND n.amount <> 0;

    INSERT INTO transactions (id, user_id, kind, status, idempotency_key, workflow_id,
                              description, effective_at)
    SELECT n.id, p_user_id, 'import', 'posted', 'statement:' || imp.account_id || ':' || n.bank_id,
           imp.workflow_id, n.description, n.booked_on::timestamp AT TIME ZONE 'UTC'
      FROM import_batch n WHERE n.matched_posting IS NULL AND n.amount <> 0 ORDER BY n.ord;
    INSERT INTO postings (id, transaction_id, user_id, account_id, amount_minor, currency)
    SELECT leg.id, n.id, p_user_id, leg.account_id, leg.amount_minor, account_currency
      FROM import_batch n
     CROSS JOIN LATERAL (VALUES (n.posting_id, imp.account_id, n.amount),
                                (n.clearing_posting_id, clearing, -n.amount))
           AS leg(id, account_id, amount_minor)
     WHERE n.matched_posting IS NULL AND n.amount <> 0
     ORDER BY n.ord;
    PERFORM account_entries_of_import(p_user_id, posted_ids);

    UPDATE statement_imports i
       SET lines_done = i.lines_done + coalesce(cardinality(p_line_ids), 0),
           lines_matched = i.lines_matched + matched_count,
           lines_posted = i.lines_posted + cardinality(posted_ids),
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
                   'ledger_import_lines_for(uuid, uuid, integer, uuid, uuid[], uuid[], uuid[], text[], date[], bigint[], text[])',
                   djinn_lock_timeout());
END
$$;
GRANT CREATE ON SCHEMA public TO djinn_app;
ALTER FUNCTION ledger_import_lines_for(uuid, uuid, integer, uuid, uuid[], uuid[], uuid[], text[], date[], bigint[], text[]) OWNER TO djinn_app;
REVOKE CREATE ON SCHEMA public FROM djinn_app;
REVOKE EXECUTE ON FUNCTION ledger_import_lines_for(uuid, uuid, integer, uuid, uuid[], uuid[], uuid[], text[], date[], bigint[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_import_lines_for(uuid, uuid, integer, uuid, uuid[], uuid[], uuid[], text[], date[], bigint[], text[]) TO djinn_app;

-- The owner of an account, for the operators' commands (`djinn import`, `djinn reconcile`),
-- which act for the account's owner. Runs as the tables' owner: it answers an id only.
CREATE FUNCTION account_owner(p_account_id uuid) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT user_id FROM accounts WHERE id = p_account_id AND kind NOT IN ('equity', 'clearing')
$$;
REVOKE EXECUTE ON FUNCTION account_owner(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION account_owner(uuid) TO djinn_app;
