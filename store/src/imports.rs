//! Statement imports (migrations/..._statement_imports.sql): the uploaded file and its import
//! registered once per (user, key); the file read back by the worker; the import's progress
//! and end. The lines themselves are written by the ledger (`djinn_ledger::import`).

use crate::session::begin_as;
use crate::{StoreError, sql};
use chrono::{DateTime, NaiveDate, Utc};
use djinn_domain::{AccountId, Currency, Money, StatementImportId, UserId};
use sqlx::{FromRow, PgPool};

/// An import as the user asked for it.
#[derive(Clone, Debug)]
pub struct NewImport {
    pub id: StatementImportId,
    pub account: AccountId,
    pub idempotency_key: String,
    /// `csv`, `ofx` or `camt053`.
    pub format: &'static str,
    /// The CSV profile's settings as JSON.
    pub csv_profile: Option<String>,
    pub content: Vec<u8>,
    pub sha256: [u8; 32],
    /// What the registering caller's whole read of the file found, when it read it whole: the
    /// worker then does not read it again before writing.
    pub checked: Option<Checked>,
}

/// A registered import and where it stands.
#[derive(Clone, Debug, FromRow)]
pub struct Import {
    pub id: uuid::Uuid,
    pub account_id: uuid::Uuid,
    pub format: String,
    pub csv_profile: Option<String>,
    pub workflow_id: String,
    pub status: String,
    pub lines_total: i32,
    pub lines_done: i32,
    pub lines_matched: i32,
    pub lines_posted: i32,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub sha256: Vec<u8>,
    pub created_at: DateTime<Utc>,
    /// When the file was read whole and found sound; none yet, and the worker reads it.
    pub checked_at: Option<DateTime<Utc>>,
}

/// The columns of an import, as `Import` reads them.
macro_rules! import_columns {
    () => {
        "SELECT i.id, i.account_id, i.format, i.csv_profile, i.workflow_id, i.status,
            i.lines_total, i.lines_done, i.lines_matched, i.lines_posted, i.failure_code,
            i.failure_message, f.sha256, i.created_at, i.checked_at"
    };
}

/// An import with its file's hash.
macro_rules! select_import {
    () => {
        concat!(
            import_columns!(),
            " FROM statement_imports i JOIN statement_files f ON f.id = i.file_id"
        )
    };
}

/// What registering an import found.
#[derive(Debug)]
pub enum Registered {
    Created(Box<Import>),
    /// The import the key registered before (the caller compares what it was asked).
    Existing(Box<Import>),
    /// Not an account of the user's (system accounts included).
    AccountNotFound,
}

/// The workflow id of an import: it reads as the business id in the Temporal UI.
pub fn workflow_id(user: UserId, key: &str) -> String {
    format!("import:{user}:{key}")
}

/// The account's currency, if it is one of the user's own accounts.
pub async fn account_currency(
    pool: &PgPool,
    user: UserId,
    account: AccountId,
) -> Result<Option<Currency>, StoreError> {
    let mut tx = begin_as(pool, user).await?;
    let code: Option<String> = sql::query_scalar(
        "SELECT currency::text FROM accounts
          WHERE id = $1 AND user_id = $2 AND kind NOT IN ('equity', 'clearing')",
    )
    .bind(account.as_uuid())
    .bind(user.as_uuid())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    code.map(|code| crate::stored_currency(&code)).transpose()
}

/// Stores the file and registers its import under the user's key, or finds the import the key
/// registered before (whose file is then not stored again).
#[tracing::instrument(skip_all, fields(import = %new.id))]
pub async fn register(
    pool: &PgPool,
    user: UserId,
    new: &NewImport,
) -> Result<Registered, StoreError> {
    let mut tx = begin_as(pool, user).await?;
    if let Some(found) = by_key(&mut tx, user, &new.idempotency_key).await? {
        return Ok(Registered::Existing(Box::new(found)));
    }
    let owned: bool = sql::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM accounts
          WHERE id = $1 AND user_id = $2 AND kind NOT IN ('equity', 'clearing'))",
    )
    .bind(new.account.as_uuid())
    .bind(user.as_uuid())
    .fetch_one(&mut *tx)
    .await?;
    if !owned {
        return Ok(Registered::AccountNotFound);
    }
    let file_id = uuid::Uuid::now_v7();
    sql::query(
        "INSERT INTO statement_files (id, user_id, content, sha256) VALUES ($1, $2, $3, $4)",
    )
    .bind(file_id)
    .bind(user.as_uuid())
    .bind(&new.content)
    .bind(&new.sha256[..])
    .execute(&mut *tx)
    .await?;
    let inserted = sql::query(
        "INSERT INTO statement_imports (id, user_id, account_id, file_id, idempotency_key, format,
                                        csv_profile, workflow_id, lines_total, opening_minor,
                                        closing_minor, closing_on, checked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, 0), $10, $11, $12,
                 CASE WHEN $9 IS NOT NULL THEN now() END)
         ON CONFLICT (user_id, idempotency_key) DO NOTHING",
    )
    .bind(new.id.as_uuid())
    .bind(user.as_uuid())
    .bind(new.account.as_uuid())
    .bind(file_id)
    .bind(&new.idempotency_key)
    .bind(new.format)
    .bind(new.csv_profile.as_deref())
    .bind(workflow_id(user, &new.idempotency_key))
    .bind(new.checked.map(|c| c.lines_total))
    .bind(new.checked.and_then(|c| c.opening_minor))
    .bind(new.checked.and_then(|c| c.closing_minor))
    .bind(new.checked.and_then(|c| c.closing_on))
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        // A concurrent request with the same key won: its import stands, this file goes.
        tx.rollback().await?;
        let mut tx = begin_as(pool, user).await?;
        let found = by_key(&mut tx, user, &new.idempotency_key).await?;
        tx.commit().await?;
        return found
            .map(|found| Registered::Existing(Box::new(found)))
            .ok_or_else(|| StoreError::Invariant("an import key lost its import".to_owned()));
    }
    let created = by_key(&mut tx, user, &new.idempotency_key).await?;
    tx.commit().await?;
    created
        .map(|created| Registered::Created(Box::new(created)))
        .ok_or_else(|| StoreError::Invariant("a registered import is missing".to_owned()))
}

async fn by_key(
    tx: &mut sqlx::PgConnection,
    user: UserId,
    key: &str,
) -> Result<Option<Import>, StoreError> {
    Ok(sql::query_as(concat!(
        select_import!(),
        " WHERE i.user_id = $1 AND i.idempotency_key = $2"
    ))
    .bind(user.as_uuid())
    .bind(key)
    .fetch_optional(tx)
    .await?)
}

/// The user's import.
pub async fn get(
    pool: &PgPool,
    user: UserId,
    id: StatementImportId,
) -> Result<Option<Import>, StoreError> {
    let mut tx = begin_as(pool, user).await?;
    let found = sql::query_as(concat!(
        select_import!(),
        " WHERE i.id = $1 AND i.user_id = $2"
    ))
    .bind(id.as_uuid())
    .bind(user.as_uuid())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(found)
}

/// An import's file, with what the worker needs to read it: the import and the account's
/// currency.
pub struct File {
    pub import: Import,
    pub currency: Currency,
    pub content: Vec<u8>,
}

/// The import's file, read by the worker, with the import and the account's currency.
pub async fn file(
    pool: &PgPool,
    user: UserId,
    id: StatementImportId,
) -> Result<Option<File>, StoreError> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        import: Import,
        content: Vec<u8>,
        currency: String,
    }
    let mut tx = begin_as(pool, user).await?;
    let row: Option<Row> = sql::query_as(concat!(
        import_columns!(),
        ", f.content, a.currency::text AS currency
           FROM statement_imports i JOIN statement_files f ON f.id = i.file_id
           JOIN accounts a ON a.id = i.account_id WHERE i.id = $1 AND i.user_id = $2"
    ))
    .bind(id.as_uuid())
    .bind(user.as_uuid())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    row.map(|row| {
        Ok(File {
            currency: crate::stored_currency(&row.currency)?,
            import: row.import,
            content: row.content,
        })
    })
    .transpose()
}

/// What a whole read of the file found, kept before any line is written.
#[derive(Clone, Copy, Debug)]
pub struct Checked {
    pub lines_total: i32,
    pub opening_minor: Option<i64>,
    pub closing_minor: Option<i64>,
    pub closing_on: Option<NaiveDate>,
}

impl Checked {
    /// What a whole read found: its lines, the balances the file states and its last booked
    /// day. None for more lines than an import counts.
    pub fn new(
        lines: usize,
        opening: Option<Money>,
        closing: Option<Money>,
        closing_on: Option<NaiveDate>,
    ) -> Option<Self> {
        Some(Self {
            lines_total: i32::try_from(lines).ok()?,
            opening_minor: opening.map(|m| m.amount_minor()),
            closing_minor: closing.map(|m| m.amount_minor()),
            closing_on,
        })
    }
}

/// Records what the whole read of a running import's file found.
pub async fn record_checked(
    pool: &PgPool,
    user: UserId,
    id: StatementImportId,
    checked: Checked,
) -> Result<(), StoreError> {
    let mut tx = begin_as(pool, user).await?;
    sql::query(
        "UPDATE statement_imports
            SET lines_total = $3, opening_minor = $4, closing_minor = $5, closing_on = $6,
                checked_at = now(), updated_at = now()
          WHERE id = $1 AND user_id = $2 AND status = 'running' AND lines_done = 0",
    )
    .bind(id.as_uuid())
    .bind(user.as_uuid())
    .bind(checked.lines_total)
    .bind(checked.opening_minor)
    .bind(checked.closing_minor)
    .bind(checked.closing_on)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Ends a running import: completed, or failed with a code and a message. An import that
/// ended already keeps its end.
pub async fn finish(
    pool: &PgPool,
    user: UserId,
    id: StatementImportId,
    failure: Option<(&str, &str)>,
) -> Result<(), StoreError> {
    let mut tx = begin_as(pool, user).await?;
    sql::query(
        "UPDATE statement_imports
            SET status = CASE WHEN $3::text IS NULL THEN 'completed' ELSE 'failed' END,
                failure_code = $3, failure_message = $4, updated_at = now()
          WHERE id = $1 AND user_id = $2 AND status = 'running'",
    )
    .bind(id.as_uuid())
    .bind(user.as_uuid())
    .bind(failure.map(|(code, _)| code))
    .bind(failure.map(|(_, message)| message))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The owner of a user's account (not a system account), for the operators' commands.
pub async fn account_owner(
    pool: &PgPool,
    account: AccountId,
) -> Result<Option<UserId>, StoreError> {
    let mut tx = pool.begin().await?;
    let owner: Option<uuid::Uuid> = sql::query_scalar("SELECT account_owner($1)")
        .bind(account.as_uuid())
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(owner.map(UserId::from_uuid))
}
