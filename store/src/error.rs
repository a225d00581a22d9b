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
        Self {
            code,
            message: message.into(),
        }
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
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    /// Sorts database errors into those a retry may fix and those it never will, so that an
    /// activity does not retry a deterministic failure for days.
    fn from(error: sqlx::Error) -> Self {
        let (code, message) = match &error {
            sqlx::Error::Database(db) => (db.code().map(|c| c.into_owned()), db.message()),
            _ => (None, ""),
        };
        match code.as_deref() {
            // The ledger's triggers refuse legs that no operation registered
            // (migrations/..._ledger_moves_only_what_was_registered.sql): never retried.
            Some("DJ001") if message == "not_registered" => LedgerRejection::new(
                RejectionCode::NotRegistered,
                "no registered operation asked for this",
            )
            .into(),
            Some("DJ001") if message == "not_pending" => LedgerRejection::new(
                RejectionCode::NotPending,
                "the operation is no longer waiting for this step",
            )
            .into(),
            // `bigint out of range`: an amount that cannot be held.
            Some("22003") => LedgerRejection::new(
                RejectionCode::AmountOutOfRange,
                "the amount is out of range for this account",
            )
            .into(),
            // Integrity constraint violations (class 23), privilege errors (42501) and the
            // ledger functions' own invariant checks (DJ002) repeat identically on every
            // attempt: the code and the schema disagree, or the ledger is broken.
            Some(code) if code.starts_with("23") || code == "42501" || code == "DJ002" => {
                StoreError::Invariant(error.to_string())
            }
            _ => StoreError::Database(error),
        }
    }
}
