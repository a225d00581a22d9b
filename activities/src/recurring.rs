//! The recurring transfers' activity: a run's registration, one call of
//! `register_recurring_run_for` (which decides the day in the rule's time zone and whether
//! the rule runs then), answered with the transfer's workflow input.

use crate::failure;
use djinn_store::StoreError;
use djinn_store::operations::Registration;
use djinn_store::recurring;
use djinn_workflows::contracts::{RegisterRunInput, TransferInput, markers};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

#[derive(Debug, Clone)]
pub struct RecurringActivities {
    pool: PgPool,
}

impl RecurringActivities {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[temporalio_macros::activities]
impl RecurringActivities {
    #[activity(definition = markers::RegisterRun)]
    pub async fn register_run(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: RegisterRunInput,
    ) -> Result<Option<TransferInput>, ActivityError> {
        let scheduled_at = chrono::DateTime::from_timestamp_millis(input.scheduled_at_ms)
            .ok_or_else(|| failure("the scheduled time is out of range", true))?;
        let registered = recurring::register_run(
            &self.pool,
            input.run.user_id,
            input.run.rule_id,
            scheduled_at,
            Duration::from_millis(input.run.approval_timeout_ms),
        )
        .await
        .map_err(|error| {
            tracing::warn!(%error, rule = %input.run.rule_id, "a recurring run's registration failed");
            match error {
                StoreError::Database(error) => failure(&error.to_string(), false),
                other => failure(&other.to_string(), true),
            }
        })?;
        let view = match registered {
            Some(Registration::Created(view) | Registration::Existing(view)) => view,
            // Refused (kept on the rule) or not a day of the rule: nothing to run.
            Some(Registration::Refused(_)) | None => return Ok(None),
        };
        djinn_temporal::starts::transfer_input(&view)
            .map(Some)
            .map_err(|error| failure(&error.to_string(), true))
    }
}
