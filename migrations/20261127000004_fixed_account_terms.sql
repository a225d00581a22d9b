-- An account's terms are set when it opens and never changed by the application: its currency,
-- kind and owner, its overdraft limit (`accounts.overdraft_limit_minor`) and the balance floor
-- derived from it (`account_balances.floor_minor`, minus the limit). The reservation checks the
-- floor and the API's early check reads the limit, so the two must never drift apart. The
-- application role may therefore update only the columns that legitimately move: balances and
-- an account's name and status. A buggy (or injected) query that tried to widen a floor fails
-- with "permission denied" instead of changing it.

REVOKE UPDATE ON accounts, account_balances FROM djinn_app;
GRANT UPDATE (name, status) ON accounts TO djinn_app;
GRANT UPDATE (posted_minor, pending_debit_minor, pending_credit_minor, updated_at) ON account_balances TO djinn_app;
