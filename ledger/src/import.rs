//! Writing a statement's lines, one bounded batch per call of `ledger_import_batch_for`
//! (migrations/..._import_batch_entries.sql): each line new to the account is kept once; one
//! that matches an entry made in Djinn clears it; the others are posted against the user's
//! clearing account as the batch's entries (its money in, its money out), each line pointing at
//! its leg. A batch is written once: the function writes only the batch that follows the last
//! one written, so a retried call answers what the first one did.

use crate::{LedgerRejection, RejectionCode, StoreError};
use djinn_domain::{StatementImportId, UserId};
use djinn_statements::StatementLine;
use djinn_store::PgPool;
use djinn_store::sql;
use sqlx::Row;
use uuid::Uuid;

/// Where an import stands after a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub lines_done: i32,
    pub lines_matched: i32,
    pub lines_posted: i32,
}

/// What writing a batch found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// Written now.
    Now(Progress),
    /// Written before (a retry), or the import has ended: nothing was written.
    Already(Progress),
    NotRunning(Progress),
}

/// Writes `lines`, the batch that starts at line `first` (0-based) of the import's statement.
#[tracing::instrument(skip_all, fields(import = %import, first, lines = lines.len()))]
pub async fn write_lines(
    pool: &PgPool,
    user: UserId,
    import: StatementImportId,
    first: i32,
    lines: &[StatementLine],
) -> Result<Written, StoreError> {
    let statement = sql::query(
        "SELECT * FROM ledger_import_batch_for($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(user.as_uuid())
    .bind(import.as_uuid())
    .bind(first)
    // The clearing account's id, should it be made; the batch's two entries and their legs.
    .bind(Uuid::now_v7())
    .bind([Uuid::now_v7(), Uuid::now_v7()])
    .bind((0..4).map(|_| Uuid::now_v7()).collect::<Vec<_>>())
    .bind(lines.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.bank_id.as_str()).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.booked_on).collect::<Vec<_>>())
    .bind(
        lines
            .iter()
            .map(|l| l.amount.amount_minor())
            .collect::<Vec<_>>(),
    )
    .bind(
        lines
            .iter()
            .map(|l| l.description.as_deref())
            .collect::<Vec<_>>(),
    );
    let mut tx = pool.begin().await?;
    let row = match statement.fetch_one(&mut *tx).await {
        Ok(row) => row,
        Err(sqlx::Error::Database(error)) if error.is_check_violation() => {
            return Err(below_floor());
        }
        Err(error) => return Err(error.into()),
    };
    match tx.commit().await {
        Err(sqlx::Error::Database(error)) if error.is_check_violation() => {
            return Err(below_floor());
        }
        other => other?,
    }
    let progress = Progress {
        lines_done: row.try_get("lines_done")?,
        lines_matched: row.try_get("lines_matched")?,
        lines_posted: row.try_get("lines_posted")?,
    };
    let outcome: String = row.try_get("outcome")?;
    match outcome.as_str() {
        "written" => Ok(Written::Now(progress)),
        "already_written" => Ok(Written::Already(progress)),
        "not_running" => Ok(Written::NotRunning(progress)),
        "import_not_found" => Err(StoreError::Invariant(format!(
            "the import {import} is not the user's"
        ))),
        other => Err(crate::outcome::unknown_outcome(
            "ledger_import_batch_for",
            other,
        )),
    }
}

/// The bank's lines would take the account below what it may reach (its overdraft limit).
fn below_floor() -> StoreError {
    LedgerRejection::new(
        RejectionCode::InsufficientFunds,
        "the statement's lines take the account below its overdraft limit",
    )
    .into()
}
