//! Reconciliation runs (migrations/..._reconciliation.sql): registered by a request or by the
//! nightly schedule (once per account and day), run by `reconcile_account_for` in one pass of
//! the database, and read back with their items.

use crate::session::begin_as;
use crate::{StoreError, sql};
use chrono::{DateTime, NaiveDate, Utc};
use djinn_domain::{AccountId, ReconciliationRunId, UserId};
use sqlx::{FromRow, PgPool};

/// How many items of each kind a run shows; the counts say how many there are.
pub const ITEMS_SHOWN_MAX: i64 = 100;

/// A run and where it stands.
#[derive(Clone, Debug, FromRow)]
pub struct Run {
    pub id: uuid::Uuid,
    pub account_id: uuid::Uuid,
    pub currency: String,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    pub status: String,
    pub matched_count: i32,
    pub missing_count: i32,
    pub unexpected_count: i32,
    pub statement_closing_minor: Option<i64>,
    pub ledger_closing_minor: Option<i64>,
    pub closing_on: Option<NaiveDate>,
    pub failure_message: Option<String>,
    pub created_at: DateTime<Utc>,
}

macro_rules! select_run {
    () => {
        "SELECT id, account_id, currency::text AS currency, period_from, period_to, status,
            matched_count, missing_count, unexpected_count, statement_closing_minor,
            ledger_closing_minor, closing_on, failure_message, created_at
           FROM reconciliation_runs"
    };
}

/// A statement line a run found missing from the ledger.
#[derive(Clone, Debug, FromRow)]
pub struct MissingLine {
    pub bank_id: String,
    pub booked_on: NaiveDate,
    pub amount_minor: i64,
    pub currency: String,
    pub description: Option<String>,
}

/// Registers a run of the user's account over a period; `None` when the account is not one of
/// the user's own.
pub async fn register(
    pool: &PgPool,
    user: UserId,
    account: AccountId,
    from: NaiveDate,
    to: NaiveDate,
    nightly_on: Option<NaiveDate>,
) -> Result<Option<Run>, StoreError> {
    let id = ReconciliationRunId::generate();
    let mut tx = begin_as(pool, user).await?;
    sql::query(
        "INSERT INTO reconciliation_runs (id, user_id, account_id, currency, period_from,
                                          period_to, nightly_on)
         SELECT $1, $2, a.id, a.currency, $4, $5, $6 FROM accounts a
          WHERE a.id = $3 AND a.user_id = $2 AND a.kind NOT IN ('equity', 'clearing')
         ON CONFLICT (account_id, nightly_on) WHERE nightly_on IS NOT NULL DO NOTHING",
    )
    .bind(id.as_uuid())
    .bind(user.as_uuid())
    .bind(account.as_uuid())
    .bind(from)
    .bind(to)
    .bind(nightly_on)
    .execute(&mut *tx)
    .await?;
    let run: Option<Run> = sql::query_as(concat!(
        select_run!(),
        " WHERE user_id = $2 AND (id = $1 OR (account_id = $3 AND nightly_on = $4))"
    ))
    .bind(id.as_uuid())
    .bind(user.as_uuid())
    .bind(account.as_uuid())
    .bind(nightly_on)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(run)
}

/// Every account with statements (of every user), with the days its statements cover.
pub async fn accounts_with_statements(
    pool: &PgPool,
) -> Result<Vec<(AccountId, UserId, NaiveDate, NaiveDate)>, StoreError> {
    let mut tx = pool.begin().await?;
    let rows: Vec<(uuid::Uuid, uuid::Uuid, NaiveDate, NaiveDate)> =
        sql::query_as("SELECT * FROM accounts_with_statements()")
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|(account, user, first, last)| {
            (
                AccountId::from_uuid(account),
                UserId::from_uuid(user),
                first,
                last,
            )
        })
        .collect())
}

/// Runs the reconciliation, once: its counts (matched, missing, unexpected).
pub async fn reconcile(
    pool: &PgPool,
    user: UserId,
    run: ReconciliationRunId,
) -> Result<(i32, i32, i32), StoreError> {
    let mut tx = pool.begin().await?;
    let counts: (String, i32, i32, i32) =
        sql::query_as("SELECT * FROM reconcile_account_for($1, $2)")
            .bind(user.as_uuid())
            .bind(run.as_uuid())
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok((counts.1, counts.2, counts.3))
}

/// Ends a running run FAILED.
pub async fn fail(
    pool: &PgPool,
    user: UserId,
    run: ReconciliationRunId,
    message: &str,
) -> Result<(), StoreError> {
    let mut tx = begin_as(pool, user).await?;
    sql::query(
        "UPDATE reconciliation_runs SET status = 'failed', failure_message = $3,
                completed_at = now()
          WHERE id = $1 AND user_id = $2 AND status = 'running'",
    )
    .bind(run.as_uuid())
    .bind(user.as_uuid())
    .bind(message)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The user's run.
pub async fn get(
    pool: &PgPool,
    user: UserId,
    run: ReconciliationRunId,
) -> Result<Option<Run>, StoreError> {
    let mut tx = begin_as(pool, user).await?;
    let found = sql::query_as(concat!(select_run!(), " WHERE id = $1 AND user_id = $2"))
        .bind(run.as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(found)
}

/// The account's runs, newest first, after the cursor.
pub async fn list(
    pool: &PgPool,
    user: UserId,
    account: AccountId,
    after: Option<uuid::Uuid>,
    limit: i64,
) -> Result<Vec<Run>, StoreError> {
    let mut tx = begin_as(pool, user).await?;
    let runs = sql::query_as(concat!(
        select_run!(),
        " WHERE account_id = $1 AND user_id = $2 AND ($3::uuid IS NULL OR id < $3)
          ORDER BY id DESC LIMIT $4"
    ))
    .bind(account.as_uuid())
    .bind(user.as_uuid())
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(runs)
}

/// The statement lines the run found missing from the ledger (the first ones).
pub async fn missing_lines(
    pool: &PgPool,
    user: UserId,
    run: ReconciliationRunId,
) -> Result<Vec<MissingLine>, StoreError> {
    let mut tx = begin_as(pool, user).await?;
    let lines = sql::query_as(
        "SELECT l.bank_id, l.booked_on, l.amount_minor, l.currency::text AS currency, l.description
           FROM reconciliation_items i JOIN statement_lines l ON l.id = i.statement_line_id
          WHERE i.run_id = $1 AND i.user_id = $2 AND i.kind = 'missing_from_ledger'
          ORDER BY l.booked_on, l.id LIMIT $3",
    )
    .bind(run.as_uuid())
    .bind(user.as_uuid())
    .bind(ITEMS_SHOWN_MAX)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(lines)
}

/// The ledger postings the run found no statement line for (the first ones).
pub async fn unexpected_postings(
    pool: &PgPool,
    user: UserId,
    run: ReconciliationRunId,
) -> Result<Vec<uuid::Uuid>, StoreError> {
    let mut tx = begin_as(pool, user).await?;
    let ids = sql::query_scalar(
        "SELECT posting_id FROM reconciliation_items
          WHERE run_id = $1 AND user_id = $2 AND kind = 'unexpected_in_ledger'
          ORDER BY posting_id LIMIT $3",
    )
    .bind(run.as_uuid())
    .bind(user.as_uuid())
    .bind(ITEMS_SHOWN_MAX)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ids)
}
