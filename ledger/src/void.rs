//! Voiding a transfer: what was reserved is released, and the operation records why.

use crate::postings::{pending_parts, read_postings, set_operation_status, transaction_for};
use crate::{Applied, LedgerRejection, RejectionCode, StoreError};
use djinn_domain::{OperationId, UserId};
use djinn_store::PgPool;
use djinn_store::session::begin_as;
use uuid::Uuid;

/// Voids a transfer that has not been posted: releases what was reserved (if anything was) and
/// records why on the operation. A posted transfer is left alone, since it can only be
/// reversed: the void is refused as `TRANSFER_POSTED`, and the workflow that asked ends POSTED.
/// That happens when a step that reserves and posts at once committed but its answer never
/// came back, and the workflow gave up on it.
///
/// When nothing was reserved, the void leaves a `voided` journal entry without postings as a
/// tombstone, so that a reservation attempt still in flight (or a workflow restarted from the
/// Temporal UI) finds the entry claimed and can never hold or move the money afterwards.
#[tracing::instrument(skip_all, fields(transfer_id = %transfer_id, code))]
pub async fn void_transfer(
    pool: &PgPool,
    transfer_id: OperationId,
    user: UserId,
    idempotency_key: &str,
    code: &str,
    message: &str,
) -> Result<Applied, StoreError> {
    let transaction_id = transaction_for(transfer_id);
    let mut tx = begin_as(pool, user).await?;
    let tombstone: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO transactions (id, user_id, kind, status, idempotency_key, description)
         VALUES ($1, $2, 'transfer', 'voided', $3, 'voided before it was reserved') ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(transaction_id.as_uuid())
    .bind(user.as_uuid())
    .bind(idempotency_key)
    .fetch_optional(&mut *tx)
    .await?;
    let released: Option<Uuid> = if tombstone.is_some() {
        None
    } else {
        sqlx::query_scalar(
        "UPDATE transactions SET status = 'voided', updated_at = now() WHERE id = $1 AND status = 'pending' RETURNING id",
    )
        .bind(transaction_id.as_uuid())
        .fetch_optional(&mut *tx)
        .await?
    };
    if tombstone.is_none() && released.is_none() {
        let found: Option<String> =
            sqlx::query_scalar("SELECT status FROM transactions WHERE id = $1")
                .bind(transaction_id.as_uuid())
                .fetch_optional(&mut *tx)
                .await?;
        if found.as_deref() == Some("posted") {
            return Err(LedgerRejection::new(
                RejectionCode::TransferPosted,
                "the transfer was posted: it can only be reversed",
            )
            .into());
        }
    }
    if released.is_some() {
        for posting in read_postings(&mut tx, transaction_id).await? {
            let (debit_minor, credit_minor) = pending_parts(posting.amount_minor)?;
            sqlx::query(
                "UPDATE account_balances
                    SET pending_debit_minor = pending_debit_minor - $2,
                        pending_credit_minor = pending_credit_minor - $3,
                        updated_at = now()
                  WHERE account_id = $1",
            )
            .bind(posting.account_id.as_uuid())
            .bind(debit_minor)
            .bind(credit_minor)
            .execute(&mut *tx)
            .await?;
        }
    }
    let changed =
        set_operation_status(&mut tx, transfer_id, "voided", Some((code, message))).await?;
    tx.commit().await?;
    Ok(if changed || released.is_some() || tombstone.is_some() {
        Applied::Now
    } else {
        Applied::Already
    })
}
