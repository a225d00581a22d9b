-- Two more invariants for `djinn ledger verify` (..._ledger_violations.sql), found in review:
-- - hold_never_released: a journal entry still pending (money held) while its operation was
--   settled otherwise: the hold would never be released;
-- - posted_without_postings: a posted entry that moved nothing (a void's tombstone is voided,
--   never posted).

CREATE OR REPLACE FUNCTION ledger_violations()
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
    UNION ALL
    SELECT 'hold_never_released', t.id, 'entry pending, operation ' || o.status
      FROM transactions t JOIN operations o ON o.id = t.id
     WHERE t.status = 'pending' AND o.status NOT IN ('pending', 'awaiting_approval')
    UNION ALL
    SELECT 'posted_without_postings', t.id, t.kind
      FROM transactions t
     WHERE t.status = 'posted'
       AND NOT EXISTS (SELECT 1 FROM postings p WHERE p.transaction_id = t.id)
$$;

