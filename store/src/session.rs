//! Every database transaction runs as the application role on behalf of one user, so row-level
//! security (migrations/..._row_level_security.sql) hides every other user's rows even from a
//! buggy query. Both settings are per transaction (`set_config(.., true)`), which is what works
//! behind PgBouncer in transaction mode; a session-level `SET ROLE` would leak between clients.

use crate::StoreError;
use crate::sql;
use djinn_domain::UserId;
use sqlx::{AssertSqlSafe, PgPool, Postgres, Transaction};

/// The role without BYPASSRLS that every query runs as.
pub const APP_ROLE: &str = "djinn_app";
/// How long any statement may run: below the 10 s attempt timeout of the ledger activities, so
/// an attempt that Temporal gave up on cannot linger and commit after a later attempt (or a
/// void) has moved on. How long a statement waits for a row lock is named once, in the
/// database: `djinn_lock_timeout()` (migrations/..._one_lock_timeout.sql), which the ledger's
/// functions use too.
const STATEMENT_TIMEOUT: &str = "8s";

/// Begins a transaction as the application role, acting for `user`.
///
/// `BEGIN` and the settings travel in one round trip (a simple-query batch), which matters:
/// every ledger step and every mutation opens such a transaction. The batch is formatted, not
/// bound, and that is safe only because every value in it is a constant or a `UserId`, whose
/// text is a hyphenated UUID.
pub async fn begin_as(
    pool: &PgPool,
    user: UserId,
) -> Result<Transaction<'static, Postgres>, StoreError> {
    let batch = format!(
        "BEGIN; SELECT set_config('role', '{APP_ROLE}', true), set_config('djinn.user_id', '{user}', true),
                set_config('djinn.firebase_uid', '', true),
                set_config('lock_timeout', djinn_lock_timeout(), true),
                set_config('statement_timeout', '{STATEMENT_TIMEOUT}', true)"
    );
    Ok(pool.begin_with(AssertSqlSafe(batch)).await?)
}

/// Begins a transaction that may only see (or create) the user row of `firebase_uid`: signing in.
/// The uid is the client's text, so it is bound, at the cost of a second round trip; this runs
/// once per new uid per process (the API caches the mapping).
pub(crate) async fn begin_signing_in(
    pool: &PgPool,
    firebase_uid: &str,
) -> Result<Transaction<'static, Postgres>, StoreError> {
    let mut tx = pool.begin().await?;
    sql::query(
        "SELECT set_config('role', $1, true), set_config('djinn.user_id', '', true),
                set_config('djinn.firebase_uid', $2, true),
                set_config('lock_timeout', djinn_lock_timeout(), true),
                set_config('statement_timeout', $3, true)",
    )
    .bind(APP_ROLE)
    .bind(firebase_uid)
    .bind(STATEMENT_TIMEOUT)
    .execute(&mut *tx)
    .await?;
    Ok(tx)
}
