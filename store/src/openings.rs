//! Openings: the request behind each account opening, registered with its operation under the
//! user's key, read back to start (or start again) its workflow, and the opening's end when its
//! run ended without opening the account.

use crate::StoreError;
use crate::operations::{OperationRow, OperationView};
use crate::select_operation;
use crate::session::begin_as;
use crate::sql;
use djinn_domain::{AccountKind, Currency, Money, OperationId, UserId};
use sqlx::{PgConnection, PgPool};

/// What an openAccount request asks for, as stored with its operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpeningRequest {
    pub name: String,
    pub kind: AccountKind,
    /// The opening balance, in the account's currency.
    pub opening_balance: Money,
    /// `None`: no overdraft; never zero.
    pub overdraft_limit: Option<Money>,
}

/// Registers the opening of an account under the user's key, with its request, and returns the
/// operation that holds the key (this one, or the one registered first) with the request
/// stored for it. The operation's id is also the id of the account it opens, so a repeated
/// request finds its account. Operations registered before requests were stored have none.
#[tracing::instrument(skip_all, fields(operation_id = %id))]
pub async fn register_open_account(
    pool: &PgPool,
    id: OperationId,
    user: UserId,
    key: &str,
    workflow_id: &str,
    request: &OpeningRequest,
) -> Result<(OperationView, Option<OpeningRequest>), StoreError> {
    let mut tx = begin_as(pool, user).await?;
    // The operation and its request are written by one statement: a claimed key always has
    // its request. The conflict has no target, as in `register_transfer`.
    sql::query(
        "WITH operation AS (
             INSERT INTO operations (id, user_id, kind, idempotency_key, workflow_id, status)
             VALUES ($1, $2, 'open_account', $3, $4, 'pending')
             ON CONFLICT DO NOTHING RETURNING id, user_id)
         INSERT INTO account_openings (operation_id, user_id, name, kind, currency, opening_minor, overdraft_limit_minor)
         SELECT id, user_id, $5, $6, $7, $8, $9 FROM operation",
    )
    .bind(id.as_uuid())
    .bind(user.as_uuid())
    .bind(key)
    .bind(workflow_id)
    .bind(&request.name)
    .bind(request.kind.as_str())
    .bind(request.opening_balance.currency().code())
    .bind(request.opening_balance.amount_minor())
    .bind(request.overdraft_limit.map(|limit| limit.amount_minor()))
    .execute(&mut *tx)
    .await?;
    let row: OperationRow = sql::query_as(concat!(
        select_operation!(),
        " WHERE o.user_id = $1 AND o.kind = 'open_account' AND o.idempotency_key = $2"
    ))
    .bind(user.as_uuid())
    .bind(key)
    .fetch_one(&mut *tx)
    .await?;
    let stored = stored_request(&mut tx, OperationId::from_uuid(row.id)).await?;
    tx.commit().await?;
    Ok((row.try_into()?, stored))
}

/// The opening registered as operation `id` of `user`, with its request.
#[tracing::instrument(skip_all, fields(operation_id = %id))]
pub async fn get_opening(
    pool: &PgPool,
    user: UserId,
    id: OperationId,
) -> Result<Option<(OperationView, OpeningRequest)>, StoreError> {
    let mut tx = begin_as(pool, user).await?;
    let row: Option<OperationRow> = sql::query_as(concat!(
        select_operation!(),
        " WHERE o.id = $1 AND o.user_id = $2 AND o.kind = 'open_account'"
    ))
    .bind(id.as_uuid())
    .bind(user.as_uuid())
    .fetch_optional(&mut *tx)
    .await?;
    let stored = stored_request(&mut tx, id).await?;
    tx.commit().await?;
    match (row, stored) {
        (Some(row), Some(stored)) => Ok(Some((row.try_into()?, stored))),
        _ => Ok(None),
    }
}

/// Ends an opening whose run ended without opening the account: `failed`, with why. A client
/// that repeats the request revives it (`revive_opening`). Answers whether it was pending.
#[tracing::instrument(skip_all, fields(operation_id = %id))]
pub async fn fail_opening(
    pool: &PgPool,
    user: UserId,
    id: OperationId,
    code: &str,
    message: &str,
) -> Result<bool, StoreError> {
    let mut tx = begin_as(pool, user).await?;
    let ended = sql::query(
        "UPDATE operations SET status = 'failed', failure_code = $3, failure_message = $4,
                updated_at = now()
          WHERE id = $1 AND user_id = $2 AND kind = 'open_account' AND status = 'pending'",
    )
    .bind(id.as_uuid())
    .bind(user.as_uuid())
    .bind(code)
    .bind(message)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ended.rows_affected() > 0)
}

/// Makes a failed opening pending again, for a client that repeats its request: its account
/// was never opened (the run ended first), and the repeat starts a run that opens it.
#[tracing::instrument(skip_all, fields(operation_id = %id))]
pub async fn revive_opening(
    pool: &PgPool,
    user: UserId,
    id: OperationId,
) -> Result<bool, StoreError> {
    let mut tx = begin_as(pool, user).await?;
    let revived = sql::query(
        "UPDATE operations SET status = 'pending', failure_code = NULL, failure_message = NULL,
                updated_at = now()
          WHERE id = $1 AND user_id = $2 AND kind = 'open_account' AND status = 'failed'",
    )
    .bind(id.as_uuid())
    .bind(user.as_uuid())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(revived.rows_affected() > 0)
}

/// The request stored for opening `id`, if any (operations registered before requests were
/// stored have none).
async fn stored_request(
    tx: &mut PgConnection,
    id: OperationId,
) -> Result<Option<OpeningRequest>, StoreError> {
    let stored: Option<(String, String, String, i64, Option<i64>)> = sql::query_as(
        "SELECT name, kind, currency::text, opening_minor, overdraft_limit_minor
           FROM account_openings WHERE operation_id = $1",
    )
    .bind(id.as_uuid())
    .fetch_optional(&mut *tx)
    .await?;
    stored
        .map(|(name, kind, currency, opening_minor, limit_minor)| {
            let currency =
                Currency::parse(&currency).map_err(|e| StoreError::Invariant(e.to_string()))?;
            let kind = AccountKind::parse(&kind)
                .ok_or_else(|| StoreError::Invariant(format!("unknown account kind {kind}")))?;
            Ok(OpeningRequest {
                name,
                kind,
                opening_balance: Money::from_minor(opening_minor, currency),
                overdraft_limit: limit_minor.map(|limit| Money::from_minor(limit, currency)),
            })
        })
        .transpose()
}
