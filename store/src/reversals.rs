//! Reversals: a posted transfer is undone by a transfer the other way, registered as reversing
//! it, never by editing it (migrations/..._reversals.sql). Registering one is idempotent per
//! key like any transfer, and a transfer is reversed once.

use crate::operations::{Registration, TransferRow, TransferView, by_ids};
use crate::registration::registration;
use crate::{StoreError, sql};
use djinn_domain::{Description, IdempotencyKey, OperationId, UserId};
use sqlx::PgPool;

/// The workflow id of the reversal of `original`: one per transfer, readable in the Temporal UI.
pub fn reversal_workflow_id(user: UserId, original: OperationId) -> String {
    format!("reversal:{user}:{original}")
}

/// Registers the reversal of the user's posted transfer `original` under `key`, or finds what
/// the key registered before, in one round trip (`register_reversal_for`).
#[tracing::instrument(skip_all, fields(operation_id = %id, original = %original))]
pub async fn register_reversal(
    pool: &PgPool,
    id: OperationId,
    user: UserId,
    key: &IdempotencyKey,
    original: OperationId,
    reason: Option<&Description>,
) -> Result<Registration, StoreError> {
    let mut tx = pool.begin().await?;
    let row = sql::query("SELECT * FROM register_reversal_for($1, $2, $3, $4, $5, $6)")
        .bind(user.as_uuid())
        .bind(id.as_uuid())
        .bind(key.as_str())
        .bind(reversal_workflow_id(user, original))
        .bind(original.as_uuid())
        .bind(reason.map(Description::as_str))
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    registration(&row, "register_reversal_for")
}

/// The reversals of several of the user's transfers at once, each with `reverses` set.
#[tracing::instrument(skip_all)]
pub async fn reversals_of(
    pool: &PgPool,
    user: UserId,
    originals: &[OperationId],
) -> Result<Vec<TransferView>, StoreError> {
    let query = concat!(
        crate::select_transfer!(),
        " WHERE t.reverses_operation_id = ANY($1) AND o.user_id = $2"
    );
    let rows: Vec<TransferRow> = by_ids(pool, user, query, originals).await?;
    rows.into_iter().map(TransferView::try_from).collect()
}
