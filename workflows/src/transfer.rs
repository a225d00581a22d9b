//! A transfer between two of a user's accounts: validate -> reserve -> post, or void.
//!
//! The ledger steps run as local activities. On this machine the Temporal server, not the
//! worker, limits throughput, and each remote activity costs a round of server tasks (schedule,
//! start, complete, a new workflow task). Local activities run inside the workflow task, so a
//! whole transfer is one workflow task from start to completion: both database steps are short
//! single transactions, well inside the workflow task timeout. Their results are recorded as
//! markers in the history, and each step is idempotent, so a worker that dies mid-transfer is
//! replaced by one that replays the history and re-runs the step at worst once more, harmlessly.
//! Once money is reserved, posting (or voiding) must happen: a step that keeps failing through
//! an outage moves from a local to a regular activity, which retries without growing history.

use crate::contracts::{
    LedgerActivities, PostTransferInput, TransferInput, TransferOutcome, TransferStatus,
    VoidTransferInput,
};
use crate::failure::rejection;
use crate::search_attributes::DJINN_STATUS;
use crate::steps::{Local, local_step, local_then_regular};
use djinn_domain::RejectionCode;
use std::time::Duration;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowContextView, WorkflowResult};

/// How long a reservation keeps being retried through infrastructure failures before the
/// transfer is voided instead: the user is waiting for an answer.
const RESERVE_DEADLINE: Duration = Duration::from_secs(10 * 60);
/// Posting and voiding must eventually happen once money is reserved. They first run as local
/// activities for this long; a local activity that keeps failing heartbeats the workflow task
/// and grows the history, so past this the step continues as a regular activity.
const SETTLE_LOCAL_DEADLINE: Duration = Duration::from_secs(5 * 60);

#[workflow]
#[derive(Debug)]
pub struct TransferWorkflow {
    status: TransferStatus,
}

impl Default for TransferWorkflow {
    fn default() -> Self {
        Self {
            status: TransferStatus::Pending,
        }
    }
}

#[workflow_methods]
impl TransferWorkflow {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: TransferInput,
    ) -> WorkflowResult<TransferOutcome> {
        if let Err(invalid) = input.request.validate() {
            return Self::void(
                ctx,
                &input,
                RejectionCode::from(invalid.clone()),
                invalid.to_string(),
            )
            .await;
        }

        let reserved = local_step(
            ctx,
            LedgerActivities::reserve_transfer,
            input.clone(),
            RESERVE_DEADLINE,
        )
        .await;
        let not_reserved = match reserved {
            Local::Finished(Ok(_)) => None,
            Local::Finished(Err(error)) => {
                Some(rejection(&error).unwrap_or((RejectionCode::NotReserved, error.to_string())))
            }
            Local::OutOfTime => Some((
                RejectionCode::NotReserved,
                "the reservation did not complete in time".to_owned(),
            )),
        };
        if let Some((code, message)) = not_reserved {
            return Self::void(ctx, &input, code, message).await;
        }

        let post = PostTransferInput {
            transfer_id: input.transfer_id,
            user_id: input.user_id,
        };
        let posted = local_then_regular(
            ctx,
            || LedgerActivities::post_transfer,
            post,
            SETTLE_LOCAL_DEADLINE,
        )
        .await;
        if let Err(error) = posted {
            return match rejection(&error) {
                Some((code, message)) => Self::void(ctx, &input, code, message).await,
                None => Err(error.into()),
            };
        }
        Self::settle(ctx, TransferStatus::Posted);
        Ok(TransferOutcome {
            status: TransferStatus::Posted,
            failure_code: None,
        })
    }

    /// The transfer's status as the workflow sees it.
    #[query]
    pub fn status(&self, _ctx: &WorkflowContextView) -> TransferStatus {
        self.status
    }
}

impl TransferWorkflow {
    async fn void(
        ctx: &mut WorkflowContext<Self>,
        input: &TransferInput,
        code: RejectionCode,
        message: String,
    ) -> WorkflowResult<TransferOutcome> {
        let void = VoidTransferInput {
            transfer_id: input.transfer_id,
            user_id: input.user_id,
            idempotency_key: input.idempotency_key.clone(),
            code: code.as_str().to_owned(),
            message,
        };
        local_then_regular(
            ctx,
            || LedgerActivities::void_transfer,
            void,
            SETTLE_LOCAL_DEADLINE,
        )
        .await?;
        Self::settle(ctx, TransferStatus::Voided);
        Ok(TransferOutcome {
            status: TransferStatus::Voided,
            failure_code: Some(code.as_str().to_owned()),
        })
    }

    fn settle(ctx: &mut WorkflowContext<Self>, status: TransferStatus) {
        ctx.state_mut(|state| state.status = status);
        ctx.upsert_search_attributes([DJINN_STATUS.value_set(status.as_str().to_owned())]);
    }
}
