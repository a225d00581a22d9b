//! The reconciliation's activities: a run in one call of `reconcile_account_for`, a run's
//! failure, and the nightly plan (a run registered once per account and day for every account
//! with statements, over the days its statements cover).

use crate::failure;
use chrono::DateTime;
use djinn_domain::ReconciliationRunId;
use djinn_store::StoreError;
use djinn_store::reconciliation;
use djinn_workflows::contracts::{NightlyPlanInput, ReconcileInput, ReconcileOutcome, markers};
use sqlx::PgPool;
use std::sync::Arc;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

#[derive(Debug, Clone)]
pub struct ReconciliationActivities {
    pool: PgPool,
}

impl ReconciliationActivities {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[temporalio_macros::activities]
impl ReconciliationActivities {
    #[activity(definition = markers::Reconcile)]
    pub async fn reconcile(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ReconcileInput,
    ) -> Result<ReconcileOutcome, ActivityError> {
        let (matched, missing, unexpected) =
            reconciliation::reconcile(&self.pool, input.user_id, input.run_id)
                .await
                .map_err(store_failure)?;
        let count = |n: i32| u32::try_from(n).unwrap_or(0);
        Ok(ReconcileOutcome {
            matched: count(matched),
            missing_from_ledger: count(missing),
            unexpected_in_ledger: count(unexpected),
            failure: None,
        })
    }

    #[activity(definition = markers::Fail)]
    pub async fn fail(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: (ReconcileInput, String),
    ) -> Result<(), ActivityError> {
        let (run, message) = input;
        reconciliation::fail(&self.pool, run.user_id, run.run_id, &message)
            .await
            .map_err(store_failure)
    }

    #[activity(definition = markers::PlanNightly)]
    pub async fn plan_nightly(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: NightlyPlanInput,
    ) -> Result<Vec<ReconcileInput>, ActivityError> {
        let night = DateTime::from_timestamp_millis(input.scheduled_at_ms)
            .ok_or_else(|| failure("the scheduled time is out of range", true))?
            .date_naive();
        let accounts = reconciliation::accounts_with_statements(&self.pool)
            .await
            .map_err(store_failure)?;
        let mut runs = Vec::with_capacity(accounts.len());
        for (account, user, first, last) in accounts {
            let run = reconciliation::register(&self.pool, user, account, first, last, Some(night))
                .await
                .map_err(store_failure)?;
            if let Some(run) = run.filter(|run| run.status == "running") {
                runs.push(ReconcileInput {
                    run_id: ReconciliationRunId::from_uuid(run.id),
                    user_id: user,
                });
            }
        }
        Ok(runs)
    }
}

fn store_failure(error: StoreError) -> ActivityError {
    tracing::warn!(%error, "a reconciliation step failed");
    failure(
        &error.to_string(),
        !matches!(error, StoreError::Database(_)),
    )
}
