-- Two loose ends of the first slice: an overdraft limit that changes after opening, and
-- credit-card and loan accounts opened owing money.
--
-- The limit and the floor derived from it still never drift apart: the application role still
-- may not update either column (..._fixed_account_terms.sql). It changes them through
-- `set_overdraft_limit_for`, which runs as the tables' owner, acts only on the user's own open
-- account, moves both in one transaction, and refuses a limit the account already uses (its
-- available balance below the new floor). It locks the account row, then its balance row: the
-- order every ledger step takes them in. Each change is kept in `overdraft_limit_changes`.

ALTER TABLE account_openings DROP CONSTRAINT account_openings_opening_minor_check;
-- A credit card or a loan may open owing money, within its credit line.
ALTER TABLE account_openings ADD CONSTRAINT opening_within_terms CHECK (
    opening_minor >= 0
    OR (kind IN ('credit_card', 'loan') AND overdraft_limit_minor IS NOT NULL
        AND -opening_minor <= overdraft_limit_minor)
);

CREATE TABLE overdraft_limit_changes (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id            uuid NOT NULL REFERENCES accounts (id),
    user_id               uuid NOT NULL REFERENCES users (id),
    previous_limit_minor  bigint,
    limit_minor           bigint CHECK (limit_minor > 0),
    changed_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX overdraft_limit_changes_account_idx ON overdraft_limit_changes (account_id, changed_at);
GRANT SELECT ON overdraft_limit_changes TO djinn_app;
ALTER TABLE overdraft_limit_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY overdraft_limit_changes_own ON overdraft_limit_changes TO djinn_app
    USING (user_id = djinn_current_user_id());

-- Sets the user's account's overdraft limit (NULL: none). Answers `set`, `unchanged`, or the
-- refusal, having written nothing: `account_not_found` (unknown, another user's, or a system
-- account), `account_closed`, `overdraft_in_use`.
CREATE FUNCTION set_overdraft_limit_for(p_user_id uuid, p_account_id uuid, p_limit_minor bigint)
    RETURNS text LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = public, pg_temp
  SET lock_timeout = '2s'
AS $$
DECLARE
    account  record;
BEGIN
    -- At most the largest amount (djinn_domain::AMOUNT_MAX_MINOR), so that floor arithmetic
    -- never overflows.
    IF p_limit_minor IS NOT NULL AND (p_limit_minor <= 0 OR p_limit_minor > 1000000000000000) THEN
        RAISE EXCEPTION 'set_overdraft_limit_for: a limit is positive, at most the largest amount, or NULL'
            USING ERRCODE = 'DJ002';
    END IF;
    SELECT a.status, a.overdraft_limit_minor INTO account
      FROM accounts a
     WHERE a.id = p_account_id AND a.user_id = p_user_id AND a.kind NOT IN ('equity', 'clearing')
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN 'account_not_found';
    ELSIF account.status <> 'open' THEN
        RETURN 'account_closed';
    ELSIF account.overdraft_limit_minor IS NOT DISTINCT FROM p_limit_minor THEN
        RETURN 'unchanged';
    END IF;
    UPDATE account_balances SET floor_minor = -coalesce(p_limit_minor, 0), updated_at = now()
     WHERE account_id = p_account_id
       AND posted_minor - pending_debit_minor >= -coalesce(p_limit_minor, 0);
    IF NOT FOUND THEN
        RETURN 'overdraft_in_use';
    END IF;
    UPDATE accounts SET overdraft_limit_minor = p_limit_minor WHERE id = p_account_id;
    INSERT INTO overdraft_limit_changes (account_id, user_id, previous_limit_minor, limit_minor)
    VALUES (p_account_id, p_user_id, account.overdraft_limit_minor, p_limit_minor);
    RETURN 'set';
END
$$;

REVOKE EXECUTE ON FUNCTION set_overdraft_limit_for(uuid, uuid, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION set_overdraft_limit_for(uuid, uuid, bigint) TO djinn_app;
