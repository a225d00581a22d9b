//! Reading what a registration function answered: `register_transfer_for`, and those built
//! like it for reversals and recurring runs, answer one row in the same shape.

use crate::StoreError;
use crate::operations::{Registration, TransferRow, TransferView};
use djinn_domain::RejectionCode;
use sqlx::{FromRow, Row};

/// What a registration function answered (`register_transfer_for` and the functions built like
/// it): `created` or `existing` with the transfer's row, or a refusal word (a rejection code
/// in lower case) with nothing written.
pub(crate) fn registration(
    row: &sqlx::postgres::PgRow,
    function: &str,
) -> Result<Registration, StoreError> {
    let outcome: String = row.try_get("outcome")?;
    let transfer =
        || -> Result<TransferView, StoreError> { TransferRow::from_row(row)?.try_into() };
    match outcome.as_str() {
        "created" => Ok(Registration::Created(transfer()?)),
        "existing" => Ok(Registration::Existing(transfer()?)),
        word => RejectionCode::parse(&word.to_uppercase())
            .map(Registration::Refused)
            .ok_or_else(|| {
                StoreError::Invariant(format!("{function} answered an unknown outcome {word:?}"))
            }),
    }
}
