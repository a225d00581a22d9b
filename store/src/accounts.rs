//! The accounts read model: accounts joined with their balance projection.

use crate::StoreError;
use crate::session::begin_as;
use crate::sql;
use chrono::{DateTime, Utc};
use djinn_domain::{AccountId, AccountKind, Currency, Money, UserId};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct AccountView {
    pub id: AccountId,
    pub user_id: UserId,
    pub name: String,
    pub kind: AccountKind,
    pub currency: Currency,
    pub is_open: bool,
    /// Posted balance.
    pub balance: Money,
    /// Posted balance minus pending debits: what can be spent now (before any overdraft).
    pub available_balance: Money,
    /// How far below zero the available balance may go; `None`: not at all.
    pub overdraft_limit: Option<Money>,
    pub created_at: DateTime<Utc>,
}

impl AccountView {
    /// What a transfer out may take now: the available balance plus the overdraft limit. Wider
    /// than i64, so that the sum of two extreme amounts is exact.
    pub fn spendable_minor(&self) -> i128 {
        i128::from(self.available_balance.amount_minor())
            + self
                .overdraft_limit
                .map_or(0, |limit| i128::from(limit.amount_minor()))
    }
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: Uuid,
    user_id: Uuid,
    name: String,
    kind: String,
    currency: String,
    status: String,
    posted_minor: i64,
    pending_debit_minor: i64,
    overdraft_limit_minor: Option<i64>,
    created_at: DateTime<Utc>,
}

impl TryFrom<AccountRow> for AccountView {
    type Error = StoreError;
    fn try_from(row: AccountRow) -> Result<Self, StoreError> {
        let currency = crate::stored_currency(&row.currency)?;
        let kind = AccountKind::parse(&row.kind)
            .ok_or_else(|| StoreError::Invariant(format!("unknown account kind {}", row.kind)))?;
        let available = row
            .posted_minor
            .checked_sub(row.pending_debit_minor)
            .ok_or_else(|| StoreError::Invariant("available balance overflows".into()))?;
        Ok(AccountView {
            id: AccountId::from_uuid(row.id),
            user_id: UserId::from_uuid(row.user_id),
            name: row.name,
            kind,
            currency,
            is_open: row.status == "open",
            balance: Money::from_minor(row.posted_minor, currency),
            available_balance: Money::from_minor(available, currency),
            overdraft_limit: row
                .overdraft_limit_minor
                .map(|limit| Money::from_minor(limit, currency)),
            created_at: row.created_at,
        })
    }
}

/// The columns of [`AccountRow`]; a macro so that queries stay static strings.
macro_rules! select_account {
    () => {
        "SELECT a.id, a.user_id, a.name, a.kind, a.currency::text AS currency, a.status,
        b.posted_minor, b.pending_debit_minor, a.overdraft_limit_minor, a.created_at
   FROM accounts a JOIN account_balances b ON b.account_id = a.id"
    };
}

/// One of the user's own accounts. Another user's id, and a system account's, read as unknown.
#[tracing::instrument(skip_all, fields(account_id = %id))]
pub async fn get(
    pool: &PgPool,
    user: UserId,
    id: AccountId,
) -> Result<Option<AccountView>, StoreError> {
    let mut tx = begin_as(pool, user).await?;
    let row: Option<AccountRow> = sql::query_as(concat!(
        select_account!(),
        " WHERE a.id = $1 AND a.user_id = $2 AND a.kind NOT IN ('equity', 'clearing')"
    ))
    .bind(id.as_uuid())
    .bind(user.as_uuid())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    row.map(AccountView::try_from).transpose()
}

/// The user's own (non-system) accounts in id order, after the cursor, at most `limit`.
#[tracing::instrument(skip_all)]
pub async fn list(
    pool: &PgPool,
    user: UserId,
    after: Option<AccountId>,
    limit: i64,
) -> Result<Vec<AccountView>, StoreError> {
    let mut tx = begin_as(pool, user).await?;
    let rows: Vec<AccountRow> = sql::query_as(concat!(
        select_account!(),
        " WHERE a.user_id = $1 AND a.kind NOT IN ('equity', 'clearing')
           AND ($2::uuid IS NULL OR a.id > $2) ORDER BY a.id LIMIT $3"
    ))
    .bind(user.as_uuid())
    .bind(after.map(|a| a.as_uuid()))
    .bind(limit.clamp(0, crate::PAGE_SIZE_MAX + 1))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.into_iter().map(AccountView::try_from).collect()
}

/// Several of the user's own accounts at once, in id order; unknown and foreign ids are absent.
#[tracing::instrument(skip_all)]
pub async fn get_many(
    pool: &PgPool,
    user: UserId,
    ids: &[AccountId],
) -> Result<Vec<AccountView>, StoreError> {
    let ids: Vec<Uuid> = ids.iter().map(AccountId::as_uuid).collect();
    let mut tx = begin_as(pool, user).await?;
    let rows: Vec<AccountRow> = sql::query_as(concat!(
        select_account!(),
        " WHERE a.id = ANY($1) AND a.user_id = $2 AND a.kind NOT IN ('equity', 'clearing') ORDER BY a.id"
    ))
    .bind(ids)
    .bind(user.as_uuid())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.into_iter().map(AccountView::try_from).collect()
}

/// What setting an overdraft limit came to; only `Set` changed anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitOutcome {
    Set,
    /// The account already had this limit.
    Unchanged,
    /// Unknown, another user's, or a system account.
    NotFound,
    Closed,
    /// The account is overdrawn past the new limit (or has money held past it).
    InUse,
}

/// Sets the overdraft limit of the user's account (`None`: none) and, in the same transaction,
/// the floor the ledger checks (`set_overdraft_limit_for`, migrations/..._changing_terms.sql).
#[tracing::instrument(skip_all, fields(account_id = %account))]
pub async fn set_overdraft_limit(
    pool: &PgPool,
    user: UserId,
    account: AccountId,
    limit_minor: Option<i64>,
) -> Result<LimitOutcome, StoreError> {
    let statement = sql::query_scalar::<String>("SELECT set_overdraft_limit_for($1, $2, $3)")
        .bind(user.as_uuid())
        .bind(account.as_uuid())
        .bind(limit_minor.filter(|minor| *minor > 0));
    let outcome = sql::scalar_alone(pool, statement).await?;
    match outcome.as_str() {
        "set" => Ok(LimitOutcome::Set),
        "unchanged" => Ok(LimitOutcome::Unchanged),
        "account_not_found" => Ok(LimitOutcome::NotFound),
        "account_closed" => Ok(LimitOutcome::Closed),
        "overdraft_in_use" => Ok(LimitOutcome::InUse),
        other => Err(StoreError::Invariant(format!(
            "set_overdraft_limit_for answered {other}"
        ))),
    }
}
