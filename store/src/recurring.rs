//! Recurring transfers' rules and runs (migrations/..._recurring_transfers.sql). A rule is
//! stored once per (user, key); each of its runs registers that day's transfer through
//! `register_recurring_run_for`, which decides the day in the rule's time zone.

use crate::operations::Registration;
use crate::registration::registration;
use crate::session::begin_as;
use crate::{StoreError, sql};
use chrono::{DateTime, NaiveDate, Utc};
use djinn_domain::{AccountId, Money, OperationId, RecurringTransferId, UserId};
use sqlx::{FromRow, PgPool, Row};

/// How often a rule runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Every {
    Day,
    Week,
    /// On this day of the month (the last day of a shorter month).
    Month(u8),
}

/// A rule as the user asked for it.
#[derive(Clone, Debug)]
pub struct NewRule {
    pub id: RecurringTransferId,
    pub idempotency_key: String,
    pub from: AccountId,
    pub to: AccountId,
    pub amount: Money,
    pub description: Option<String>,
    pub every: Every,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub time_zone: String,
}

/// A stored rule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub rule: NewRule,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// One run of a rule: its transfer, or why it was refused.
#[derive(Clone, Debug, FromRow)]
pub struct Run {
    pub run_on: NaiveDate,
    pub operation_id: Option<uuid::Uuid>,
    pub refusal: Option<String>,
}

#[derive(FromRow)]
struct RuleRow {
    id: uuid::Uuid,
    idempotency_key: String,
    from_account_id: uuid::Uuid,
    to_account_id: uuid::Uuid,
    amount_minor: i64,
    currency: String,
    description: Option<String>,
    every: String,
    day_of_month: Option<i16>,
    start_date: NaiveDate,
    end_date: Option<NaiveDate>,
    time_zone: String,
    status: String,
    created_at: DateTime<Utc>,
}

/// The columns of a rule, as `RuleRow` reads them (a macro, so that queries stay static).
macro_rules! select_rule {
    () => {
        "SELECT id, idempotency_key, from_account_id, to_account_id, amount_minor,
        currency::text AS currency, description, every, day_of_month, start_date, end_date,
        time_zone, status, created_at FROM recurring_transfers"
    };
}

impl TryFrom<RuleRow> for Rule {
    type Error = StoreError;
    fn try_from(row: RuleRow) -> Result<Self, StoreError> {
        let every = match (row.every.as_str(), row.day_of_month) {
            ("day", _) => Every::Day,
            ("week", _) => Every::Week,
            ("month", Some(day)) => Every::Month(u8::try_from(day).unwrap_or(1)),
            (other, _) => return Err(StoreError::Invariant(format!("a rule every {other}"))),
        };
        Ok(Rule {
            rule: NewRule {
                id: RecurringTransferId::from_uuid(row.id),
                idempotency_key: row.idempotency_key,
                from: AccountId::from_uuid(row.from_account_id),
                to: AccountId::from_uuid(row.to_account_id),
                amount: Money::from_minor(row.amount_minor, crate::stored_currency(&row.currency)?),
                description: row.description,
                every,
                start_date: row.start_date,
                end_date: row.end_date,
                time_zone: row.time_zone,
            },
            status: row.status,
            created_at: row.created_at,
        })
    }
}

/// What storing a rule found.
#[derive(Debug)]
pub enum Stored {
    /// The rule (new, or the one the key stored before).
    Rule(Box<Rule>),
    /// Not a time zone PostgreSQL knows.
    UnknownTimeZone,
    /// The accounts are not both the user's, in the amount's currency.
    AccountNotFound,
}

/// Stores the rule under the user's key, or finds the one stored before.
#[tracing::instrument(skip_all)]
pub async fn store(pool: &PgPool, user: UserId, new: &NewRule) -> Result<Stored, StoreError> {
    let mut tx = begin_as(pool, user).await?;
    let known: bool =
        sql::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)")
            .bind(&new.time_zone)
            .fetch_one(&mut *tx)
            .await?;
    if !known {
        return Ok(Stored::UnknownTimeZone);
    }
    let owned: i64 = sql::query_scalar(
        "SELECT count(*) FROM accounts WHERE id = ANY($1) AND user_id = $2 AND currency = $3
            AND kind NOT IN ('equity', 'clearing')",
    )
    .bind(vec![new.from.as_uuid(), new.to.as_uuid()])
    .bind(user.as_uuid())
    .bind(new.amount.currency().code())
    .fetch_one(&mut *tx)
    .await?;
    if owned != 2 {
        return Ok(Stored::AccountNotFound);
    }
    let (every, day) = match new.every {
        Every::Day => ("day", None),
        Every::Week => ("week", None),
        Every::Month(day) => ("month", Some(i16::from(day))),
    };
    sql::query(
        "INSERT INTO recurring_transfers (id, user_id, idempotency_key, from_account_id,
            to_account_id, amount_minor, currency, description, every, day_of_month, start_date,
            end_date, time_zone)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (user_id, idempotency_key) DO NOTHING",
    )
    .bind(new.id.as_uuid())
    .bind(user.as_uuid())
    .bind(&new.idempotency_key)
    .bind(new.from.as_uuid())
    .bind(new.to.as_uuid())
    .bind(new.amount.amount_minor())
    .bind(new.amount.currency().code())
    .bind(new.description.as_deref())
    .bind(every)
    .bind(day)
    .bind(new.start_date)
    .bind(new.end_date)
    .bind(&new.time_zone)
    .execute(&mut *tx)
    .await?;
    let row: RuleRow = sql::query_as(concat!(
        select_rule!(),
        " WHERE user_id = $1 AND idempotency_key = $2"
    ))
    .bind(user.as_uuid())
    .bind(&new.idempotency_key)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Stored::Rule(Box::new(row.try_into()?)))
}

/// The user's rule, with its newest runs first.
#[tracing::instrument(skip_all)]
pub async fn get(
    pool: &PgPool,
    user: UserId,
    id: RecurringTransferId,
) -> Result<Option<(Rule, Vec<Run>)>, StoreError> {
    let mut tx = begin_as(pool, user).await?;
    let row: Option<RuleRow> =
        sql::query_as(concat!(select_rule!(), " WHERE id = $1 AND user_id = $2"))
            .bind(id.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
    let runs: Vec<Run> = sql::query_as(
        "SELECT run_on, operation_id, refusal FROM recurring_transfer_runs
          WHERE rule_id = $1 AND user_id = $2 ORDER BY run_on DESC LIMIT 10",
    )
    .bind(id.as_uuid())
    .bind(user.as_uuid())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    row.map(|row| Ok((row.try_into()?, runs))).transpose()
}

/// Registers the transfer of the rule's run scheduled at `scheduled_at`, or finds it; `None`
/// when the rule does not run then (paused, deleted, out of its dates, not its day).
#[tracing::instrument(skip_all, fields(rule = %rule))]
pub async fn register_run(
    pool: &PgPool,
    user: UserId,
    rule: RecurringTransferId,
    scheduled_at: DateTime<Utc>,
    approval_timeout: std::time::Duration,
) -> Result<Option<Registration>, StoreError> {
    let timeout_ms = i64::try_from(approval_timeout.as_millis()).unwrap_or(i64::MAX);
    let mut tx = pool.begin().await?;
    let row = sql::query(
        "SELECT * FROM register_recurring_run_for($1, $2, $3, $4,
                                                  $5::bigint * interval '1 millisecond')",
    )
    .bind(user.as_uuid())
    .bind(rule.as_uuid())
    .bind(scheduled_at)
    .bind(OperationId::generate().as_uuid())
    .bind(timeout_ms)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let outcome: String = row.try_get("outcome")?;
    if matches!(outcome.as_str(), "inactive" | "not_today") {
        return Ok(None);
    }
    registration(&row, "register_recurring_run_for").map(Some)
}

/// A change of a rule's status by its owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusChange {
    Pause,
    Resume,
    Delete,
}

/// Pauses, resumes or deletes the user's rule; a deleted rule stays deleted. `None` when the
/// rule is not the user's (or was deleted, for a pause or a resume).
#[tracing::instrument(skip_all, fields(rule = %id))]
pub async fn change_status(
    pool: &PgPool,
    user: UserId,
    id: RecurringTransferId,
    change: StatusChange,
) -> Result<Option<(Rule, Vec<Run>)>, StoreError> {
    let status = match change {
        StatusChange::Pause => "paused",
        StatusChange::Resume => "active",
        StatusChange::Delete => "deleted",
    };
    let mut tx = begin_as(pool, user).await?;
    let changed = sql::query(
        "UPDATE recurring_transfers SET status = $3
          WHERE id = $1 AND user_id = $2 AND (status <> 'deleted' OR $3 = 'deleted')",
    )
    .bind(id.as_uuid())
    .bind(user.as_uuid())
    .bind(status)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if changed.rows_affected() == 0 {
        return Ok(None);
    }
    get(pool, user, id).await
}

/// The user's rules, oldest first, after the cursor, each with its newest runs; deleted rules
/// are left out.
#[tracing::instrument(skip_all)]
pub async fn list(
    pool: &PgPool,
    user: UserId,
    after: Option<RecurringTransferId>,
    limit: i64,
) -> Result<Vec<(Rule, Vec<Run>)>, StoreError> {
    let mut tx = begin_as(pool, user).await?;
    let rows: Vec<RuleRow> = sql::query_as(concat!(
        select_rule!(),
        " WHERE user_id = $1 AND status <> 'deleted' AND ($2::uuid IS NULL OR id > $2)
          ORDER BY id LIMIT $3"
    ))
    .bind(user.as_uuid())
    .bind(after.map(|id| id.as_uuid()))
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let ids: Vec<uuid::Uuid> = rows.iter().map(|row| row.id).collect();
    let runs: Vec<(uuid::Uuid, NaiveDate, Option<uuid::Uuid>, Option<String>)> = sql::query_as(
        "SELECT rule_id, run_on, operation_id, refusal FROM (
             SELECT r.*, row_number() OVER (PARTITION BY rule_id ORDER BY run_on DESC) AS nth
               FROM recurring_transfer_runs r WHERE r.rule_id = ANY($1) AND r.user_id = $2) newest
          WHERE nth <= 10 ORDER BY rule_id, run_on DESC",
    )
    .bind(&ids)
    .bind(user.as_uuid())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.into_iter()
        .map(|row| {
            let id = row.id;
            let rule_runs = runs
                .iter()
                .filter(|run| run.0 == id)
                .map(|run| Run {
                    run_on: run.1,
                    operation_id: run.2,
                    refusal: run.3.clone(),
                })
                .collect();
            Ok((row.try_into()?, rule_runs))
        })
        .collect()
}
