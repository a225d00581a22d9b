-- Every ledger invariant, checked over the whole database: what `djinn ledger verify` reports
-- and what the end-to-end tests check at their end. Owned by the tables' owner and SECURITY
-- DEFINER, so that it sees every user's rows whatever role calls it; it returns ids and
-- minor-unit figures only, never a name or a description. Each row is one violation:
-- - unbalanced: a transaction's postings do not sum to zero in a currency;
-- - posted_balance / pending_debit / pending_credit: a balance row disagrees with the postings
--   of its account's posted (pending) transactions;
-- - below_floor: an account's available balance is below its floor;
-- - pending_without_postings, voided_with_postings... are not violations: a void's tombstone
--   has none, and a reserved entry has its two;
-- - operation_without_entry: an operation marked posted (a transfer) or completed (an opening
--   with a balance) has no posted journal entry of its id;
-- - entry_without_operation: a transfer's or an opening's journal entry has no operation;
-- - entry_settled_twice: an entry whose operation says otherwise (posted entry, voided
--   operation, or the reverse): it was settled twice, two ways.
CREATE FUNCTION ledger_violations()
    RETURNS TABLE (violation text, subject uuid, detail text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
AS $$
    SELECT 'unbalanced', p.transaction_id, p.currency::text || ' ' || sum(p.amount_minor)
      FROM postings p GROUP BY p.transaction_id, p.currency HAVING sum(p.amount_minor) <> 0
    UNION ALL
    SELECT 'posted_balance', b.account_id, b.posted_minor || ' <> ' || coalesce(s.posted, 0)
      FROM account_balances b
      LEFT JOIN (SELECT p.account_id, sum(p.amount_minor) AS posted
                   FROM postings p JOIN transactions t ON t.id = p.transaction_id
                  WHERE t.status = 'posted' GROUP BY p.account_id) s ON s.account_id = b.account_id
     WHERE b.posted_minor <> coalesce(s.posted, 0)
    UNION ALL
    SELECT 'pending_debit', b.account_id, b.pending_debit_minor || ' <> ' || coalesce(s.debit, 0)
      FROM account_balances b
      LEFT JOIN (SELECT p.account_id, -sum(p.amount_minor) AS debit
                   FROM postings p JOIN transactions t ON t.id = p.transaction_id
                  WHERE t.status = 'pending' AND p.amount_minor < 0 GROUP BY p.account_id) s
        ON s.account_id = b.account_id
     WHERE b.pending_debit_minor <> coalesce(s.debit, 0)
    UNION ALL
    SELECT 'pending_credit', b.account_id, b.pending_credit_minor || ' <> ' || coalesce(s.credit, 0)
      FROM account_balances b
      LEFT JOIN (SELECT p.account_id, sum(p.amount_minor) AS credit
                   FROM postings p JOIN transactions t ON t.id = p.transaction_id
                  WHERE t.status = 'pending' AND p.amount_minor > 0 GROUP BY p.account_id) s
        ON s.account_id = b.account_id
     WHERE b.pending_credit_minor <> coalesce(s.credit, 0)
    UNION ALL
    SELECT 'below_floor', b.account_id,
           (b.posted_minor - b.pending_debit_minor) || ' < ' || b.floor_minor
      FROM account_balances b
     WHERE b.floor_minor IS NOT NULL AND b.posted_minor - b.pending_debit_minor < b.floor_minor
    UNION ALL
    SELECT 'operation_without_entry', o.id, o.kind || ' ' || o.status
      FROM operations o
     WHERE ((o.kind = 'transfer' AND o.status = 'posted')
            OR (o.kind = 'open_account' AND o.status = 'completed'
                AND EXISTS (SELECT 1 FROM account_openings r
                             WHERE r.operation_id = o.id AND r.opening_minor <> 0)))
       AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.id = o.id AND t.status = 'posted')
    UNION ALL
    SELECT 'entry_without_operation', t.id, t.kind || ' ' || t.status
      FROM transactions t
     WHERE t.kind IN ('transfer', 'opening')
       AND NOT EXISTS (SELECT 1 FROM operations o WHERE o.id = t.id)
    UNION ALL
    SELECT 'entry_settled_twice', t.id, 'entry ' || t.status || ', operation ' || o.status
      FROM transactions t JOIN operations o ON o.id = t.id
     WHERE o.kind = 'transfer'
       AND ((t.status = 'posted' AND o.status IN ('voided', 'failed'))
            OR (t.status = 'voided' AND o.status = 'posted'))
$$;

REVOKE EXECUTE ON FUNCTION ledger_violations() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_violations() TO djinn_app;
