//! What the steps written in Rust share: an entry's legs written in one statement, the
//! operation's status, and the small rules (one transfer, one entry; balance rows locked in
//! account order). The steps that are PostgreSQL functions check their legs there.

use crate::{LedgerRejection, RejectionCode, StoreError};
use djinn_domain::{OperationId, Posting, PostingId, TransactionId, UserId};
use djinn_store::sql;
use sqlx::PgConnection;
use uuid::Uuid;

pub(crate) async fn insert_postings(
    tx: &mut PgConnection,
    transaction_id: TransactionId,
    user: UserId,
    postings: &[Posting],
) -> Result<(), StoreError> {
    // One statement for all legs: the entry is written whole or not at all, in one round trip.
    let ids: Vec<Uuid> = postings
        .iter()
        .map(|_| PostingId::generate().as_uuid())
        .collect();
    let accounts: Vec<Uuid> = postings.iter().map(|p| p.account_id.as_uuid()).collect();
    let amounts: Vec<i64> = postings.iter().map(|p| p.amount_minor).collect();
    let currencies: Vec<String> = postings
        .iter()
        .map(|p| p.currency.code().to_owned())
        .collect();
    sql::query(
        "INSERT INTO postings (id, transaction_id, user_id, account_id, amount_minor, currency)
         SELECT id, $2, $6, account_id, amount_minor, currency
           FROM unnest($1::uuid[], $3::uuid[], $4::bigint[], $5::text[]) AS leg(id, account_id, amount_minor, currency)",
    )
    .bind(ids)
    .bind(transaction_id.as_uuid())
    .bind(accounts)
    .bind(amounts)
    .bind(currencies)
    .bind(user.as_uuid())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub(crate) async fn set_operation_status(
    tx: &mut PgConnection,
    id: OperationId,
    status: &str,
    failure: Option<(&str, &str)>,
) -> Result<bool, StoreError> {
    let result = sql::query(
        "UPDATE operations SET status = $2, failure_code = $3, failure_message = $4, updated_at = now()
          WHERE id = $1 AND status IN ('pending', 'awaiting_approval')",
    )
    .bind(id.as_uuid())
    .bind(status)
    .bind(failure.map(|(code, _)| code))
    .bind(failure.map(|(_, message)| message))
    .execute(&mut *tx)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// A transfer's ledger transaction shares its operation's id: one transfer, one journal entry.
pub(crate) fn transaction_for(transfer_id: OperationId) -> TransactionId {
    TransactionId::from_uuid(transfer_id.as_uuid())
}

pub(crate) fn sorted_by_account<const N: usize>(mut postings: [Posting; N]) -> [Posting; N] {
    postings.sort_by_key(|p| p.account_id);
    postings
}

pub(crate) fn out_of_range() -> StoreError {
    LedgerRejection::new(
        RejectionCode::AmountOutOfRange,
        "the amount is out of range",
    )
    .into()
}
