//! Voiding a transfer: what was reserved is released, and the operation records why.

use crate::outcome::{registration_refused, step_outcome, unknown_outcome};
use crate::postings::transaction_for;
use crate::{Applied, LedgerRejection, RejectionCode, StoreError};
use djinn_domain::{OperationId, UserId};
use djinn_store::PgPool;
use djinn_store::sql;

/// Voids a transfer that has not been posted: releases what was reserved (if anything was) and
/// records why on the operation. A posted transfer is left alone, since it can only be
/// reversed: the void is refused as `TRANSFER_POSTED`, and the workflow that asked ends POSTED.
/// That happens when a step that reserves and posts at once committed but its answer never
/// came back, and the workflow gave up on it.
///
/// When nothing was reserved, the void leaves a `voided` journal entry without postings as a
/// tombstone, so that a reservation attempt still in flight (or a workflow restarted from the
/// Temporal UI) finds the entry claimed and can never hold or move the money afterwards. One
/// call of `ledger_void_transfer_for` (migrations/..._void_in_one_round_trip.sql) does it all,
/// in one round trip like the other steps.
#[tracing::instrument(skip_all, fields(transfer_id = %transfer_id, code))]
pub async fn void_transfer(
    pool: &PgPool,
    transfer_id: OperationId,
    user: UserId,
    idempotency_key: &str,
    code: &str,
    message: &str,
) -> Result<Applied, StoreError> {
    const FUNCTION: &str = "ledger_void_transfer_for";
    let statement =
        sql::query_scalar::<String>("SELECT ledger_void_transfer_for($1, $2, $3, $4, $5, $6)")
            .bind(user.as_uuid())
            .bind(transaction_for(transfer_id).as_uuid())
            .bind(transfer_id.as_uuid())
            .bind(idempotency_key)
            .bind(code)
            .bind(message);
    let called = sql::scalar_alone(pool, statement).await;
    let refusal = match step_outcome(FUNCTION, called, ["voided", "already_voided"])? {
        Ok(applied) => return Ok(applied),
        Err(refusal) => refusal,
    };
    match refusal.outcome.as_str() {
        "posted" => Err(LedgerRejection::new(
            RejectionCode::TransferPosted,
            "the transfer was posted: it can only be reversed",
        )
        .into()),
        "not_registered" | "not_pending" => Err(registration_refused(&refusal.outcome)),
        other => Err(unknown_outcome(FUNCTION, other)),
    }
}
