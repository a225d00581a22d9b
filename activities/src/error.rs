//! Errors at the boundary of the store.

use djinn_domain::RejectionCode;

/// A business refusal: permanent, never retried, and nothing was written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct LedgerRejection {
    pub code: RejectionCode,
    pub message: String,
}

impl LedgerRejection {
    pub fn new(code: RejectionCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The request was refused by a ledger rule; nothing changed.
    #[error(transparent)]
    Rejected(#[from] LedgerRejection),
    /// An invariant that the code guarantees was found broken; never retried blindly.
    #[error("ledger invariant broken: {0}")]
    Invariant(String),
    /// The database could not be reached or failed; retrying may help.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Postgres reports `bigint out of range` as SQLSTATE 22003: an amount that cannot be held,
    /// which no retry will fix.
    pub(crate) fn from_sqlx(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error
            && db.code().as_deref() == Some("22003")
        {
            return LedgerRejection::new(RejectionCode::AmountOutOfRange, "the amount is out of range for this account").into();
        }
        StoreError::Database(error)
    }
}
