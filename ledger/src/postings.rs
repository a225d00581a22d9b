//! Journal entries' legs: written in one statement, read back and checked to balance, and the
//! small rules every step shares (one transfer, one entry; balance rows locked in account order).

use crate::{LedgerRejection, RejectionCode, StoreError};
use djinn_domain::{
    AccountId, OperationId, Posting, PostingId, TransactionId, UserId, assert_balanced,
};
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
    sqlx::query(
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

/// Reads a transaction's postings back and checks that they still balance.
pub(crate) async fn read_postings(
    tx: &mut PgConnection,
    transaction_id: TransactionId,
) -> Result<Vec<Posting>, StoreError> {
    let rows: Vec<(Uuid, i64, String)> =
        sqlx::query_as("SELECT account_id, amount_minor, currency::text FROM postings WHERE transaction_id = $1 ORDER BY account_id")
            .bind(transaction_id.as_uuid())
            .fetch_all(&mut *tx)
            .await?;
    check_balanced(transaction_id, rows)
}

/// Turns legs read from the database into postings, and checks that they balance: a
/// transaction that no longer sums to zero is a broken invariant, never a user error.
pub(crate) fn check_balanced(
    transaction_id: TransactionId,
    legs: impl IntoIterator<Item = (Uuid, i64, String)>,
) -> Result<Vec<Posting>, StoreError> {
    let postings = legs
        .into_iter()
        .map(|(account_id, amount_minor, currency)| {
            let currency = djinn_domain::Currency::parse(&currency)
                .map_err(|e| StoreError::Invariant(e.to_string()))?;
            Ok(Posting {
                account_id: AccountId::from_uuid(account_id),
                amount_minor,
                currency,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    assert_balanced(&postings)
        .map_err(|e| StoreError::Invariant(format!("transaction {transaction_id}: {e}")))?;
    Ok(postings)
}

pub(crate) async fn set_operation_status(
    tx: &mut PgConnection,
    id: OperationId,
    status: &str,
    failure: Option<(&str, &str)>,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
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

/// Splits a posting into the pending debit and pending credit it was reserved as.
pub(crate) fn pending_parts(amount_minor: i64) -> Result<(i64, i64), StoreError> {
    if amount_minor < 0 {
        Ok((amount_minor.checked_neg().ok_or_else(out_of_range)?, 0))
    } else {
        Ok((0, amount_minor))
    }
}

pub(crate) fn out_of_range() -> StoreError {
    LedgerRejection::new(
        RejectionCode::AmountOutOfRange,
        "the amount is out of range",
    )
    .into()
}
