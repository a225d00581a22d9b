//! A run of a recurring transfer, started by its rule's Temporal Schedule: register the day's
//! transfer (a local step; the database decides the day in the rule's time zone and whether the
//! rule runs then, `register_recurring_run_for`), then run it as a child transfer workflow with
//! the transfer's own id. A second trigger of the same scheduled time (a retry, an overlap, a
//! backfill) finds the transfer registered and its workflow started: it pays nothing more.

use crate::TransferWorkflow;
use crate::contracts::{
    RecurringActivities, RecurringRunInput, RegisterRunInput, TransferInput, TransferOutcome,
};
use crate::search_attributes::{DJINN_OPERATION, DJINN_STATUS, DJINN_USER_ID};
use crate::steps::{Local, Scope, local_step};
use crate::transfer::MOVE_DEADLINE;
use djinn_domain::{TransferStatus, transfer_workflow_id};
use temporalio_common::error::ApplicationFailure;
use temporalio_common::search_attributes::SearchAttributes;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ChildWorkflowOptions, WorkflowContext, WorkflowContextView, WorkflowIdReusePolicy,
    WorkflowResult,
};

#[workflow]
#[derive(Debug)]
pub struct RecurringTransferWorkflow {
    input: RecurringRunInput,
}

#[workflow_methods]
impl RecurringTransferWorkflow {
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: RecurringRunInput) -> Self {
        Self { input }
    }

    /// The run's transfer outcome, or none when the rule does not run at this time (or its
    /// transfer was refused, or was started by an earlier trigger of the same time).
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<Option<TransferOutcome>> {
        let run = ctx.state(|state| state.input.clone());
        let scheduled_at_ms = crate::scheduled::scheduled_at_ms(ctx);
        let registered = local_step(
            ctx,
            RecurringActivities::register_run,
            RegisterRunInput {
                run,
                scheduled_at_ms,
            },
            MOVE_DEADLINE,
            Scope::Workflow,
        )
        .await;
        let transfer = match registered {
            Local::Finished(Ok(Some(transfer))) => transfer,
            Local::Finished(Ok(None)) => return Ok(None),
            Local::Finished(Err(error)) => return Err(error.into()),
            Local::OutOfTime => {
                let failure = ApplicationFailure::new("the run could not be registered in time");
                return Err(failure.into());
            }
        };
        Self::transfer(ctx, transfer).await
    }
}

impl RecurringTransferWorkflow {
    /// Runs the registered transfer as a child with the transfer's own id, as the API starts
    /// one; a transfer already started (an earlier trigger of the same time) is left to run.
    async fn transfer(
        ctx: &mut WorkflowContext<Self>,
        transfer: TransferInput,
    ) -> WorkflowResult<Option<TransferOutcome>> {
        let options = ChildWorkflowOptions::builder()
            .workflow_id(transfer_workflow_id(
                transfer.user_id,
                &transfer.idempotency_key,
            ))
            // A transfer that ended is never started again (as the API starts transfers).
            .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
            .search_attributes(SearchAttributes::new([
                DJINN_USER_ID.value_set(transfer.user_id.to_string()),
                DJINN_OPERATION.value_set("transfer".to_owned()),
                DJINN_STATUS.value_set(TransferStatus::Pending.as_str().to_owned()),
            ]))
            .build();
        let Ok(started) = ctx
            .start_child_workflow(TransferWorkflow::run, transfer, options)
            .await
        else {
            return Ok(None);
        };
        Ok(Some(started.result().await?))
    }
}
