//! A transfer between two of a user's accounts: validate -> reserve -> post, or void.
//!
//! The ledger steps run as local activities. On this machine the Temporal server, not the
//! worker, limits throughput, and each remote activity costs a round of server tasks (schedule,
//! start, complete, a new workflow task). Local activities run inside the workflow task, so a
//! whole transfer is one workflow task from start to completion: both database steps are short
//! single transactions, well inside the workflow task timeout. Their results are recorded as
//! markers in the history, and each step is idempotent, so a worker that dies mid-transfer is
//! replaced by one that replays the history and re-runs the step at worst once more, harmlessly.

use crate::contracts::{LedgerActivities, TransferInput, TransferOutcome, TransferStatus, VoidTransferInput};
use crate::failure::rejection;
use crate::search_attributes::DJINN_STATUS;
use djinn_domain::RejectionCode;
use std::time::Duration;
use temporalio_common::RetryPolicy;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{LocalActivityOptions, WorkflowContext, WorkflowContextView, WorkflowResult};

/// How long one attempt of a ledger step may take: a single short database transaction.
const LEDGER_STEP_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a reservation keeps being retried through infrastructure failures before the
/// transfer is voided instead: the user is waiting for an answer.
const RESERVE_DEADLINE: Duration = Duration::from_secs(10 * 60);
/// Posting and voiding must eventually happen once money is reserved, so they keep retrying
/// (idempotently) for much longer; past this, the workflow fails and staff repair it.
const SETTLE_DEADLINE: Duration = Duration::from_secs(7 * 24 * 60 * 60);

fn retry_policy() -> RetryPolicy {
    RetryPolicy::builder()
        .initial_interval(Duration::from_millis(100))
        .backoff_coefficient(2.0)
        .maximum_interval(Duration::from_secs(30))
        .maximum_attempts(0)
        .build()
}

pub(crate) fn ledger_step_options() -> LocalActivityOptions {
    step_options(SETTLE_DEADLINE)
}

fn step_options(deadline: Duration) -> LocalActivityOptions {
    LocalActivityOptions::builder()
        .start_to_close_timeout(LEDGER_STEP_ATTEMPT_TIMEOUT)
        .schedule_to_close_timeout(deadline)
        .retry_policy(retry_policy())
        .build()
}

#[workflow]
#[derive(Debug)]
pub struct TransferWorkflow {
    status: TransferStatus,
}

impl Default for TransferWorkflow {
    fn default() -> Self {
        Self { status: TransferStatus::Pending }
    }
}

#[workflow_methods]
impl TransferWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: TransferInput) -> WorkflowResult<TransferOutcome> {
        if let Err(invalid) = input.request.validate() {
            return Self::void(ctx, &input, RejectionCode::from(invalid.clone()), invalid.to_string()).await;
        }

        let reserved = ctx
            .execute_local_activity(LedgerActivities::reserve_transfer, input.clone(), step_options(RESERVE_DEADLINE))
            .await;
        if let Err(error) = reserved {
            let (code, message) = rejection(&error).unwrap_or((RejectionCode::NotReserved, error.to_string()));
            return Self::void(ctx, &input, code, message).await;
        }

        let posted = ctx
            .execute_local_activity(LedgerActivities::post_transfer, input.transfer_id, ledger_step_options())
            .await;
        if let Err(error) = posted {
            return match rejection(&error) {
                Some((code, message)) => Self::void(ctx, &input, code, message).await,
                None => Err(error.into()),
            };
        }
        Self::settle(ctx, TransferStatus::Posted);
        Ok(TransferOutcome { status: TransferStatus::Posted, failure_code: None })
    }

    /// The transfer's status as the workflow sees it.
    #[query]
    pub fn status(&self, _ctx: &WorkflowContextView) -> TransferStatus {
        self.status
    }
}

impl TransferWorkflow {
    async fn void(ctx: &mut WorkflowContext<Self>, input: &TransferInput, code: RejectionCode, message: String) -> WorkflowResult<TransferOutcome> {
        let void = VoidTransferInput { transfer_id: input.transfer_id, code: code.as_str().to_owned(), message };
        ctx.execute_local_activity(LedgerActivities::void_transfer, void, ledger_step_options()).await?;
        Self::settle(ctx, TransferStatus::Voided);
        Ok(TransferOutcome { status: TransferStatus::Voided, failure_code: Some(code.as_str().to_owned()) })
    }

    fn settle(ctx: &mut WorkflowContext<Self>, status: TransferStatus) {
        ctx.state_mut(|state| state.status = status);
        ctx.upsert_search_attributes([DJINN_STATUS.value_set(status.as_str().to_owned())]);
    }
}
