-- The request behind an open_account operation, as `transfers` holds a transfer's: a repeated
-- request with the same idempotency key is compared with it (another body is
-- IDEMPOTENCY_KEY_REUSED even while the first is still being opened, or after its run failed),
-- and a run that replaces a failed one opens exactly what was first asked for.
CREATE TABLE account_openings (
    operation_id           uuid PRIMARY KEY REFERENCES operations (id),
    user_id                uuid NOT NULL REFERENCES users (id),
    name                   text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    kind                   text NOT NULL CHECK (kind IN ('checking', 'savings', 'credit_card', 'cash', 'loan')),
    currency               char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    opening_minor          bigint NOT NULL CHECK (opening_minor >= 0),
    -- NULL: no overdraft (a limit of zero is stored as NULL).
    overdraft_limit_minor  bigint CHECK (overdraft_limit_minor > 0)
);

GRANT SELECT, INSERT ON account_openings TO djinn_app;
ALTER TABLE account_openings ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_openings_own ON account_openings TO djinn_app
    USING (user_id = djinn_current_user_id()) WITH CHECK (user_id = djinn_current_user_id());
