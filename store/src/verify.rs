//! Checking every ledger invariant over the whole database (`ledger_violations()`,
//! migrations/..._ledger_violations.sql): what `djinn ledger verify` reports and the end-to-end
//! tests check at their end. A read, across users, of ids and figures only.

use crate::StoreError;
use crate::sql;
use sqlx::PgPool;

/// One broken invariant: which, about what (a transaction, account or operation id), and the
/// figures that disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub violation: String,
    pub subject: uuid::Uuid,
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.violation, self.subject, self.detail)
    }
}

/// Every violation of the ledger's invariants; none when the ledger holds.
#[tracing::instrument(skip_all)]
pub async fn ledger_violations(pool: &PgPool) -> Result<Vec<Violation>, StoreError> {
    // One transaction, so that behind a transaction-mode pooler the statement's parse and its
    // execution reach the same server (crate::sql), and so that it reads one snapshot.
    let mut tx = pool.begin().await?;
    let rows: Vec<(String, uuid::Uuid, String)> = sql::query_as(
        "SELECT violation, subject, detail FROM ledger_violations() ORDER BY violation, subject",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|(violation, subject, detail)| Violation {
            violation,
            subject,
            detail,
        })
        .collect())
}
