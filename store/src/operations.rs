//! The operation registry: one row per workflow the API started, and the request behind each
//! transfer. Registering a transfer is what makes `createTransfer` idempotent: the first request
//! for a (user, key) inserts the row, every later one finds it.

use crate::StoreError;
use crate::session::begin_as;
use crate::sql;
use chrono::{DateTime, Utc};
use djinn_domain::{
    AccountId, IdempotencyKey, Money, OperationId, RejectionCode, TransferRequest, TransferStatus,
    UserId,
};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperationKind {
    Transfer,
    OpenAccount,
}

impl OperationKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            OperationKind::Transfer => "transfer",
            OperationKind::OpenAccount => "open_account",
        }
    }
    pub(crate) fn parse(kind: &str) -> Result<Self, StoreError> {
        match kind {
            "transfer" => Ok(OperationKind::Transfer),
            "open_account" => Ok(OperationKind::OpenAccount),
            other => Err(StoreError::Invariant(format!(
                "unknown operation kind {other}"
            ))),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperationStatus {
    Pending,
    AwaitingApproval,
    Posted,
    Voided,
    Completed,
    Failed,
}

impl OperationStatus {
    /// Where a transfer with this operation status stands.
    pub const fn transfer_status(self) -> TransferStatus {
        match self {
            OperationStatus::Pending => TransferStatus::Pending,
            OperationStatus::AwaitingApproval => TransferStatus::AwaitingApproval,
            OperationStatus::Posted | OperationStatus::Completed => TransferStatus::Posted,
            OperationStatus::Voided | OperationStatus::Failed => TransferStatus::Voided,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            OperationStatus::Pending => "pending",
            OperationStatus::AwaitingApproval => "awaiting_approval",
            OperationStatus::Posted => "posted",
            OperationStatus::Voided => "voided",
            OperationStatus::Completed => "completed",
            OperationStatus::Failed => "failed",
        }
    }
    fn parse(status: &str) -> Result<Self, StoreError> {
        Ok(match status {
            "pending" => OperationStatus::Pending,
            "awaiting_approval" => OperationStatus::AwaitingApproval,
            "posted" => OperationStatus::Posted,
            "voided" => OperationStatus::Voided,
            "completed" => OperationStatus::Completed,
            "failed" => OperationStatus::Failed,
            other => {
                return Err(StoreError::Invariant(format!(
                    "unknown operation status {other}"
                )));
            }
        })
    }
}

#[derive(Clone, Debug)]
pub struct OperationView {
    pub id: OperationId,
    pub user_id: UserId,
    pub kind: OperationKind,
    pub status: OperationStatus,
    pub workflow_id: String,
    pub idempotency_key: String,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct TransferView {
    pub operation: OperationView,
    pub from: AccountId,
    pub to: AccountId,
    pub amount: Money,
    pub description: Option<String>,
    /// Set when the transfer was at or over its owner's approval threshold: it waits for a
    /// decision until then.
    pub approval_deadline: Option<DateTime<Utc>>,
    /// When its approval took effect (the transfer was posted).
    pub approved_at: Option<DateTime<Utc>>,
    /// The posted transfer this one reverses (`crate::reversals`).
    pub reverses: Option<OperationId>,
}

impl TransferView {
    /// Whether a repeated request asks for exactly this transfer.
    pub fn matches(&self, request: &TransferRequest) -> bool {
        self.from == request.from
            && self.to == request.to
            && self.amount == request.amount
            && self.description.as_deref() == request.description.as_ref().map(|d| d.as_str())
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OperationRow {
    pub(crate) id: Uuid,
    user_id: Uuid,
    kind: String,
    status: String,
    workflow_id: String,
    idempotency_key: String,
    failure_code: Option<String>,
    failure_message: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<OperationRow> for OperationView {
    type Error = StoreError;
    fn try_from(row: OperationRow) -> Result<Self, StoreError> {
        Ok(OperationView {
            id: OperationId::from_uuid(row.id),
            user_id: UserId::from_uuid(row.user_id),
            kind: OperationKind::parse(&row.kind)?,
            status: OperationStatus::parse(&row.status)?,
            workflow_id: row.workflow_id,
            idempotency_key: row.idempotency_key,
            failure_code: row.failure_code,
            failure_message: row.failure_message,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TransferRow {
    #[sqlx(flatten)]
    operation: OperationRow,
    from_account_id: Uuid,
    to_account_id: Uuid,
    amount_minor: i64,
    currency: String,
    description: Option<String>,
    approval_deadline: Option<DateTime<Utc>>,
    approved_at: Option<DateTime<Utc>>,
    /// Absent from `register_transfer_for`'s answer: a transfer it registers reverses nothing.
    #[sqlx(default)]
    reverses_operation_id: Option<Uuid>,
}

impl TryFrom<TransferRow> for TransferView {
    type Error = StoreError;
    fn try_from(row: TransferRow) -> Result<Self, StoreError> {
        let currency = crate::stored_currency(&row.currency)?;
        Ok(TransferView {
            operation: row.operation.try_into()?,
            from: AccountId::from_uuid(row.from_account_id),
            to: AccountId::from_uuid(row.to_account_id),
            amount: Money::from_minor(row.amount_minor, currency),
            description: row.description,
            approval_deadline: row.approval_deadline,
            approved_at: row.approved_at,
            reverses: row.reverses_operation_id.map(OperationId::from_uuid),
        })
    }
}

/// Queries are built with `concat!` so that they stay static strings.
#[macro_export]
#[doc(hidden)]
macro_rules! select_operation {
    () => {
        "SELECT o.id, o.user_id, o.kind, o.status, o.workflow_id, o.idempotency_key,
        o.failure_code, o.failure_message, o.created_at, o.updated_at FROM operations o"
    };
}
#[macro_export]
#[doc(hidden)]
macro_rules! select_transfer {
    () => {
        "SELECT o.id, o.user_id, o.kind, o.status, o.workflow_id, o.idempotency_key,
        o.failure_code, o.failure_message, o.created_at, o.updated_at,
        t.from_account_id, t.to_account_id, t.amount_minor, t.currency::text AS currency, t.description,
        t.approval_deadline, t.approved_at, t.reverses_operation_id
   FROM operations o JOIN transfers t ON t.operation_id = o.id"
    };
}

/// What registering a transfer found.
#[derive(Debug)]
pub enum Registration {
    /// This request is the first with its key: the caller must start the workflow.
    Created(TransferView),
    /// A transfer with this key exists: the caller compares it with the request.
    Existing(TransferView),
    /// The early checks refused the request (the code says which) and nothing was written.
    Refused(RejectionCode),
}

/// Registers a transfer request under the user's idempotency key, or finds the one registered
/// before, in one round trip: `register_transfer_for`
/// (migrations/..._register_transfer_in_one_round_trip.sql) answers a known key with its
/// transfer, whatever the accounts look like now; otherwise it checks the accounts (the
/// user's, open, in the amount's currency, the source able to pay) and registers the request
/// only when they pass. A transfer at or over the user's approval threshold in its currency
/// gets a deadline `approval_timeout` from now (migrations/..._approvals.sql).
#[tracing::instrument(skip_all, fields(operation_id = %id))]
pub async fn register_transfer(
    pool: &PgPool,
    id: OperationId,
    user: UserId,
    key: &IdempotencyKey,
    workflow_id: &str,
    request: &TransferRequest,
    approval_timeout: std::time::Duration,
) -> Result<Registration, StoreError> {
    let timeout_ms = i64::try_from(approval_timeout.as_millis())
        .map_err(|_| StoreError::Invariant("the approval timeout is too long".to_owned()))?;
    // In a transaction of its own, as every statement (crate::sql).
    let mut tx = pool.begin().await?;
    let row = sql::query(
        "SELECT * FROM register_transfer_for($1, $2, $3, $4, $5, $6, $7, $8, $9,
                                             $10::bigint * interval '1 millisecond')",
    )
    .bind(user.as_uuid())
    .bind(id.as_uuid())
    .bind(key.as_str())
    .bind(workflow_id)
    .bind(request.from.as_uuid())
    .bind(request.to.as_uuid())
    .bind(request.amount.amount_minor())
    .bind(request.amount.currency().code())
    .bind(request.description.as_ref().map(|d| d.as_str()))
    .bind(timeout_ms)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    crate::registration::registration(&row, "register_transfer_for")
}

#[tracing::instrument(skip_all, fields(operation_id = %id))]
pub async fn get_transfer(
    pool: &PgPool,
    user: UserId,
    id: OperationId,
) -> Result<Option<TransferView>, StoreError> {
    let query = concat!(select_transfer!(), " WHERE o.id = $1 AND o.user_id = $2");
    let row: Option<TransferRow> = by_id(pool, user, query, id).await?;
    row.map(TransferView::try_from).transpose()
}

/// Several of the user's transfers at once; unknown and foreign ids are absent.
#[tracing::instrument(skip_all)]
pub async fn get_transfers(
    pool: &PgPool,
    user: UserId,
    ids: &[OperationId],
) -> Result<Vec<TransferView>, StoreError> {
    let query = concat!(
        select_transfer!(),
        " WHERE o.id = ANY($1) AND o.user_id = $2"
    );
    let rows: Vec<TransferRow> = by_ids(pool, user, query, ids).await?;
    rows.into_iter().map(TransferView::try_from).collect()
}

/// Several of the user's operations at once; unknown and foreign ids are absent.
#[tracing::instrument(skip_all)]
pub async fn get_many(
    pool: &PgPool,
    user: UserId,
    ids: &[OperationId],
) -> Result<Vec<OperationView>, StoreError> {
    let query = concat!(
        select_operation!(),
        " WHERE o.id = ANY($1) AND o.user_id = $2"
    );
    let rows: Vec<OperationRow> = by_ids(pool, user, query, ids).await?;
    rows.into_iter().map(OperationView::try_from).collect()
}

#[tracing::instrument(skip_all, fields(operation_id = %id))]
pub async fn get(
    pool: &PgPool,
    user: UserId,
    id: OperationId,
) -> Result<Option<OperationView>, StoreError> {
    let query = concat!(select_operation!(), " WHERE o.id = $1 AND o.user_id = $2");
    let row: Option<OperationRow> = by_id(pool, user, query, id).await?;
    row.map(OperationView::try_from).transpose()
}

/// The rows of `query` (parameters: the operation ids, the user id), read as the user.
pub(crate) async fn by_ids<R>(
    pool: &PgPool,
    user: UserId,
    query: &'static str,
    ids: &[OperationId],
) -> Result<Vec<R>, StoreError>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let ids: Vec<Uuid> = ids.iter().map(OperationId::as_uuid).collect();
    let mut tx = begin_as(pool, user).await?;
    let rows = sql::query_as(query)
        .bind(ids)
        .bind(user.as_uuid())
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}

/// One row of `query` (parameters: the operation id, the user id), read as the user.
pub(crate) async fn by_id<R>(
    pool: &PgPool,
    user: UserId,
    query: &'static str,
    id: OperationId,
) -> Result<Option<R>, StoreError>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let mut tx = begin_as(pool, user).await?;
    let row = sql::query_as(query)
        .bind(id.as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(row)
}

/// The user's operations, newest first, before the cursor, at most `limit`.
#[tracing::instrument(skip_all)]
pub async fn list(
    pool: &PgPool,
    user: UserId,
    kind: Option<OperationKind>,
    before: Option<OperationId>,
    limit: i64,
) -> Result<Vec<OperationView>, StoreError> {
    let mut tx = begin_as(pool, user).await?;
    let rows: Vec<OperationRow> = sql::query_as(concat!(
        select_operation!(),
        " WHERE o.user_id = $1 AND ($2::text IS NULL OR o.kind = $2)
           AND ($3::uuid IS NULL OR o.id < $3) ORDER BY o.id DESC LIMIT $4"
    ))
    .bind(user.as_uuid())
    .bind(kind.map(OperationKind::as_str))
    .bind(before.map(|b| b.as_uuid()))
    .bind(limit.clamp(0, crate::PAGE_SIZE_MAX + 1))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.into_iter().map(OperationView::try_from).collect()
}
