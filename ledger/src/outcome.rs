//! Reading a ledger step function's answer: the outcome word it returned, or the refusal it
//! raised.

use crate::{Applied, LedgerRejection, RejectionCode, StoreError};
use sqlx::postgres::PgDatabaseError;

/// The SQLSTATE with which a ledger step function refuses: it raises, so that whatever it wrote
/// is undone with its statement (migrations/..._ledger_steps_in_one_round_trip.sql).
pub(crate) const STEP_REFUSED: &str = "DJ001";

/// A ledger step function's refusal: its outcome word and, for some, a detail.
pub(crate) struct Refusal {
    pub(crate) outcome: String,
    pub(crate) detail: Option<String>,
}

/// Sorts a ledger step function's answer: what it applied (the outcome words for "did it now"
/// and "had done it already", in that order), its refusal, or a failure.
pub(crate) fn step_outcome(
    function: &str,
    called: Result<String, sqlx::Error>,
    [now, already]: [&str; 2],
) -> Result<Result<Applied, Refusal>, StoreError> {
    match called {
        Ok(outcome) if outcome == now => Ok(Ok(Applied::Now)),
        Ok(outcome) if outcome == already => Ok(Ok(Applied::Already)),
        Ok(other) => Err(unknown_outcome(function, &other)),
        Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some(STEP_REFUSED) => {
            let detail = error
                .try_downcast_ref::<PgDatabaseError>()
                .and_then(|pg| pg.detail().map(str::to_owned));
            Ok(Err(Refusal {
                outcome: error.message().to_owned(),
                detail,
            }))
        }
        Err(error) => Err(error.into()),
    }
}

/// A ledger function answered with an outcome this code does not know: the migrations and the
/// binary disagree.
pub(crate) fn unknown_outcome(function: &str, outcome: &str) -> StoreError {
    StoreError::Invariant(format!(
        "{function} answered an unknown outcome {outcome:?}"
    ))
}

/// The rejection for a step refused because the ledger moves only what the API registered
/// (migrations/..._ledger_moves_only_what_was_registered.sql): `not_registered`, no operation
/// (or none with this money) asked for it; `not_pending`, its operation no longer waits for it.
pub(crate) fn registration_refused(outcome: &str) -> StoreError {
    let rejection = if outcome == "not_pending" {
        LedgerRejection::new(
            RejectionCode::NotPending,
            "the operation is no longer waiting for this step",
        )
    } else {
        LedgerRejection::new(
            RejectionCode::NotRegistered,
            "no registered operation asked for this",
        )
    };
    rejection.into()
}
