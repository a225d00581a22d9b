//! Recurring transfers: a rule (what to move, how often, from when to when, in which time
//! zone), run by its Temporal Schedule. The rule shows its next run (asked of the schedule) and
//! its last runs: each day's transfer, or why it was refused.

use super::ids::{self, NodeType};
use super::loaders::TransferLoader;
use super::money::{Money, MoneyInput};
use super::transfer::Transfer;
use super::user_error::UserError;
use super::{internal, state};
use async_graphql::dataloader::DataLoader;
use async_graphql::{
    Context, Enum, ID, InputObject, InputValueError, InputValueResult, Object, Result, Scalar,
    ScalarType, SimpleObject, Value,
};
use chrono::{DateTime, NaiveDate, Utc};
use djinn_domain::OperationId;
use djinn_store::recurring::{Every, Rule, Run};

/// A calendar date, `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

/// A calendar date, `YYYY-MM-DD`.
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom("a date is YYYY-MM-DD")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum RecurrenceUnit {
    Day,
    Week,
    /// On `dayOfMonth`; on the last day of a month without it (the 31st in April: the 30th).
    Month,
}

#[derive(InputObject, Clone, Debug)]
pub struct RecurrenceInput {
    pub every: RecurrenceUnit,
    /// 1 to 31, for MONTH only.
    pub day_of_month: Option<i32>,
    pub start_date: Date,
    pub end_date: Option<Date>,
    /// An IANA time zone, such as `Europe/Berlin`: runs happen at 09:00 there.
    pub time_zone: String,
}

#[derive(InputObject, Clone, Debug)]
pub struct CreateRecurringTransferInput {
    /// The same key with the same input returns the same rule.
    pub idempotency_key: String,
    pub from_account_id: ID,
    pub to_account_id: ID,
    pub amount: MoneyInput,
    pub description: Option<String>,
    pub schedule: RecurrenceInput,
}

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct CreateRecurringTransferPayload {
    pub recurring_transfer: Option<RecurringTransfer>,
    pub user_errors: Vec<UserError>,
}

/// Names the rule to pause, resume or delete.
#[derive(InputObject, Clone, Debug)]
pub struct ChangeRecurringTransferInput {
    pub id: ID,
}

/// The rule as the change left it (RECURRING_TRANSFER_NOT_FOUND: not the user's, or deleted).
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct RecurringTransferPayload {
    pub recurring_transfer: Option<RecurringTransfer>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct Recurrence {
    pub every: RecurrenceUnit,
    pub day_of_month: Option<i32>,
    pub start_date: Date,
    pub end_date: Option<Date>,
    pub time_zone: String,
}

/// A rule, with its newest runs.
#[derive(Clone, Debug)]
pub struct RecurringTransfer(pub Rule, pub Vec<Run>);

#[Object]
impl RecurringTransfer {
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::RecurringTransfer, self.0.rule.id.as_uuid())
    }
    /// ACTIVE, PAUSED or DELETED.
    async fn status(&self) -> String {
        self.0.status.to_uppercase()
    }
    async fn amount(&self) -> Money {
        self.0.rule.amount.into()
    }
    async fn from_account_id(&self) -> ID {
        ids::encode(NodeType::Account, self.0.rule.from.as_uuid())
    }
    async fn to_account_id(&self) -> ID {
        ids::encode(NodeType::Account, self.0.rule.to.as_uuid())
    }
    async fn description(&self) -> Option<&str> {
        self.0.rule.description.as_deref()
    }
    async fn schedule(&self) -> Recurrence {
        let rule = &self.0.rule;
        let (every, day_of_month) = match rule.every {
            Every::Day => (RecurrenceUnit::Day, None),
            Every::Week => (RecurrenceUnit::Week, None),
            Every::Month(day) => (RecurrenceUnit::Month, Some(i32::from(day))),
        };
        Recurrence {
            every,
            day_of_month,
            start_date: Date(rule.start_date),
            end_date: rule.end_date.map(Date),
            time_zone: rule.time_zone.clone(),
        }
    }
    /// When the schedule fires next (a Temporal query); null when it will not, or cannot be
    /// asked right now.
    async fn next_run_at(&self, ctx: &Context<'_>) -> Option<DateTime<Utc>> {
        let (app, _) = state(ctx).ok()?;
        match djinn_temporal::schedules::next_run(&app.temporal, self.0.rule.id).await {
            Ok(next) => next.map(DateTime::<Utc>::from),
            Err(error) => {
                tracing::warn!(%error, "the schedule could not be described");
                None
            }
        }
    }
    /// The newest runs (at most 10): each day's transfer, or why it was refused.
    async fn last_runs(&self) -> Vec<RecurringRun> {
        self.1.iter().cloned().map(RecurringRun).collect()
    }
}

/// One day's run of a rule.
#[derive(Clone, Debug)]
pub struct RecurringRun(pub Run);

#[Object]
impl RecurringRun {
    async fn run_on(&self) -> Date {
        Date(self.0.run_on)
    }
    /// The day's transfer (POSTED, or VOIDED with its reason), when one was registered; read
    /// with the other runs' in one query.
    async fn transfer(&self, ctx: &Context<'_>) -> Result<Option<Transfer>> {
        let Some(id) = self.0.operation_id else {
            return Ok(None);
        };
        Ok(ctx
            .data::<DataLoader<TransferLoader>>()?
            .load_one(OperationId::from_uuid(id))
            .await
            .map_err(internal)?
            .map(Transfer))
    }
    /// Why no transfer was registered that day, as a code (INSUFFICIENT_FUNDS, ...).
    async fn refusal(&self) -> Option<&str> {
        self.0.refusal.as_deref()
    }
}
