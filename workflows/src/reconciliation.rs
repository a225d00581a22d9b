//! Reconciliation: an account's statement lines against its ledger entries for a period, by
//! bank id, then by amount within a date window. The comparison is one activity, one pass of
//! the database that records the differences on the run (a million lines are never in the
//! history or the worker). `NightlyReconciliationWorkflow`, started by the Temporal Schedule
//! `reconciliation-nightly`, registers a run for every account with statements and runs them
//! as child workflows, a bounded number at a time.

use crate::contracts::{
    NightlyInput, NightlyPlanInput, ReconcileInput, ReconcileOutcome, ReconciliationActivities,
};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::time::Duration;
use temporalio_common::RetryPolicy;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ActivityOptions, ChildWorkflowOptions, WorkflowContext, WorkflowResult};

/// How long one reconciliation may take in the database.
const RECONCILE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How many accounts the nightly run reconciles at once, unless its input says.
pub const NIGHTLY_CONCURRENCY: u32 = 4;

/// The workflow id of a reconciliation run.
pub fn reconciliation_workflow_id(run: &ReconcileInput) -> String {
    format!("reconciliation:{}", run.run_id)
}

fn options(timeout: Duration) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(timeout)
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_millis(200))
                .backoff_coefficient(2.0)
                .maximum_interval(Duration::from_secs(30))
                .maximum_attempts(5)
                .build(),
        )
        .build()
}

#[workflow]
#[derive(Debug, Default)]
pub struct ReconciliationWorkflow;

#[workflow_methods]
impl ReconciliationWorkflow {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: ReconcileInput,
    ) -> WorkflowResult<ReconcileOutcome> {
        let reconciled = ctx
            .execute_activity(
                ReconciliationActivities::reconcile,
                input,
                options(RECONCILE_TIMEOUT),
            )
            .await;
        match reconciled {
            Ok(outcome) => Ok(outcome),
            Err(error) => {
                let message = crate::failure::message(&error);
                ctx.execute_activity(
                    ReconciliationActivities::fail,
                    (input, message.clone()),
                    options(Duration::from_secs(10)),
                )
                .await?;
                Ok(ReconcileOutcome {
                    matched: 0,
                    missing_from_ledger: 0,
                    unexpected_in_ledger: 0,
                    failure: Some(message),
                })
            }
        }
    }
}

#[workflow]
#[derive(Debug, Default)]
pub struct NightlyReconciliationWorkflow;

#[workflow_methods]
impl NightlyReconciliationWorkflow {
    /// Reconciles every account with statements; answers how many runs it started and how
    /// many of them failed.
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: NightlyInput,
    ) -> WorkflowResult<(u32, u32)> {
        let concurrency = usize::try_from(input.concurrency.clamp(1, 64)).unwrap_or(1);
        let scheduled_at_ms = crate::scheduled::scheduled_at_ms(ctx);
        let runs = ctx
            .execute_activity(
                ReconciliationActivities::plan_nightly,
                NightlyPlanInput { scheduled_at_ms },
                options(Duration::from_secs(60)),
            )
            .await?;
        let (mut started, mut failed) = (0_u32, 0_u32);
        let mut waiting = runs.into_iter();
        let mut running = FuturesUnordered::new();
        loop {
            while running.len() < concurrency {
                let Some(run) = waiting.next() else { break };
                let options = ChildWorkflowOptions::builder()
                    .workflow_id(reconciliation_workflow_id(&run))
                    .build();
                // A child that cannot start was started by an earlier run of the same night,
                // and records its own end.
                if let Ok(child) = ctx
                    .start_child_workflow(ReconciliationWorkflow::run, run, options)
                    .await
                {
                    started += 1;
                    running.push(child.result());
                }
            }
            let Some(ended) = running.next().await else {
                break;
            };
            if !matches!(ended, Ok(ReconcileOutcome { failure: None, .. })) {
                failed += 1;
            }
        }
        Ok((started, failed))
    }
}
