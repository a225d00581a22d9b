-- Account history: `account_entries`, one row per posting, the read model behind
-- `Account.entries`. Postings are immutable and say nothing of when their entry was posted; a
-- history needs an order and a running balance. Each account numbers its entries
-- (`account_balances.entry_seq`, bumped under the balance row's lock, which the step that
-- wrote the posting already holds): an entry takes the next position when it appears, and again
-- when it is posted, so the history reads newest activity first, and `balance_after_minor`, set
-- when it is posted, is the account's posted balance right after it. The newest posted entry's
-- balance_after is therefore the account's balance (`djinn ledger verify` checks it).
--
-- The rows are written by triggers deferred to the commit of the step's transaction, so they
-- see the balances as the step left them, whatever order the step wrote its rows in, and no
-- ledger function changes. Keyset pages read the unique index (account_id, position).

ALTER TABLE account_balances ADD COLUMN entry_seq bigint NOT NULL DEFAULT 0;

CREATE TABLE account_entries (
    posting_id           uuid PRIMARY KEY REFERENCES postings (id),
    account_id           uuid NOT NULL,
    user_id              uuid NOT NULL REFERENCES users (id),
    transaction_id       uuid NOT NULL,
    position             bigint NOT NULL CHECK (position > 0),
    status               text NOT NULL CHECK (status IN ('pending', 'posted', 'voided')),
    balance_after_minor  bigint,
    posted_at            timestamptz,
    CHECK ((status = 'posted') = (balance_after_minor IS NOT NULL AND posted_at IS NOT NULL)),
    -- The owner is the account's and the journal entry's, as on every user-owned row.
    FOREIGN KEY (account_id, user_id) REFERENCES accounts (id, user_id),
    FOREIGN KEY (transaction_id, user_id) REFERENCES transactions (id, user_id),
    UNIQUE (account_id, position)
);
-- The settle trigger finds a journal entry's entries by it.
CREATE INDEX account_entries_transaction_idx ON account_entries (transaction_id);

-- Read only: only the triggers below (running as the owner) write the history, so a request's
-- transaction cannot rewrite a balance or a status there.
GRANT SELECT ON account_entries TO djinn_app;
ALTER TABLE account_entries ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_entries_own ON account_entries TO djinn_app
    USING (user_id = djinn_current_user_id());

-- The trigger functions run as the tables' owner (SECURITY DEFINER): they fire at commit,
-- after the ledger function that caused them has returned, under whatever role the session
-- has, and write only rows derived from the posting or the transaction that fired them.
CREATE FUNCTION account_entries_on_posting() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = public, pg_temp
AS $$
DECLARE
    entry_status  text;
    next_position bigint;
    posted        bigint;
BEGIN
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

CREATE FUNCTION account_entries_on_settle() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = public, pg_temp
AS $$
DECLARE
    entry          record;
    next_position  bigint;
    posted         bigint;
BEGIN
    FOR entry IN
        SELECT e.posting_id, e.account_id FROM account_entries e
         WHERE e.transaction_id = NEW.id AND e.status <> NEW.status ORDER BY e.account_id
    LOOP
        IF NEW.status = 'posted' THEN
            UPDATE account_balances SET entry_seq = entry_seq + 1 WHERE account_id = entry.account_id
            RETURNING entry_seq, posted_minor INTO next_position, posted;
            UPDATE account_entries
               SET status = 'posted', position = next_position,
                   balance_after_minor = posted, posted_at = clock_timestamp()
             WHERE posting_id = entry.posting_id;
        ELSE
            UPDATE account_entries SET status = NEW.status WHERE posting_id = entry.posting_id;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER postings_make_entries AFTER INSERT ON postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION account_entries_on_posting();
CREATE CONSTRAINT TRIGGER transactions_settle_entries AFTER UPDATE OF status ON transactions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION account_entries_on_settle();

-- The history of the postings written before, in the order the live rule gives: a posted
-- entry where it was posted (its journal entry's last update), any other where it was written;
-- each posted entry with the running sum of the posted ones before it.
WITH ordered AS (
    SELECT p.id, p.account_id, p.user_id, p.transaction_id, t.status,
           CASE WHEN t.status = 'posted' THEN t.updated_at END AS posted_at,
           row_number() OVER w AS position,
           sum(CASE WHEN t.status = 'posted' THEN p.amount_minor ELSE 0 END) OVER w AS running
      FROM postings p JOIN transactions t ON t.id = p.transaction_id
    WINDOW w AS (PARTITION BY p.account_id
                 ORDER BY CASE WHEN t.status = 'posted' THEN t.updated_at ELSE p.created_at END, p.id)
)
INSERT INTO account_entries (posting_id, account_id, user_id, transaction_id, position, status,
                             balance_after_minor, posted_at)
SELECT id, account_id, user_id, transaction_id, position, status,
       CASE WHEN status = 'posted' THEN running END, posted_at
  FROM ordered;
UPDATE account_balances b SET entry_seq = s.entries
  FROM (SELECT account_id, max(position) AS entries FROM account_entries GROUP BY account_id) s
 WHERE s.account_id = b.account_id;

-- `djinn ledger verify` learns the history's invariants: every posting has its entry, in its
-- transaction's status, and each account's newest posted entry shows its posted balance.
ALTER FUNCTION ledger_violations() RENAME TO ledger_violations_of_postings;
CREATE FUNCTION ledger_violations()
    RETURNS TABLE (violation text, subject uuid, detail text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
    SELECT * FROM ledger_violations_of_postings()
    UNION ALL
    SELECT 'posting_without_entry', p.id, p.account_id::text
      FROM postings p WHERE NOT EXISTS (SELECT 1 FROM account_entries e WHERE e.posting_id = p.id)
    UNION ALL
    SELECT 'entry_status', e.posting_id, 'entry ' || e.status || ', transaction ' || t.status
      FROM account_entries e JOIN transactions t ON t.id = e.transaction_id
     WHERE e.status <> t.status
    UNION ALL
    SELECT 'balance_after', b.account_id, last.balance_after_minor || ' <> ' || b.posted_minor
      FROM account_balances b
      JOIN LATERAL (SELECT e.balance_after_minor FROM account_entries e
                     WHERE e.account_id = b.account_id AND e.status = 'posted'
                     ORDER BY e.position DESC LIMIT 1) last ON true
     WHERE last.balance_after_minor <> b.posted_minor
$$;

REVOKE EXECUTE ON FUNCTION ledger_violations() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_violations() TO djinn_app;
