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
use djinn_domain::RejectionCode;
use std::time::Duration;
use temporalio_common::data_converters::TemporalDeserializable;
use temporalio_common::{ActivityCloseTimeouts, ActivityDefinition, RetryPolicy};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityExecutionError, ActivityOptions, LocalActivityOptions, WorkflowContext,
    WorkflowContextView, WorkflowResult,
};

/// How long one attempt of a ledger step may take: a single short database transaction.
const LEDGER_STEP_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a reservation keeps being retried through infrastructure failures before the
/// transfer is voided instead: the user is waiting for an answer.
const RESERVE_DEADLINE: Duration = Duration::from_secs(10 * 60);
/// Posting and voiding must eventually happen once money is reserved. They first run as local
/// activities for this long; a local activity that keeps failing heartbeats the workflow task
/// and grows the history, so past this the step continues as a regular activity.
const SETTLE_LOCAL_DEADLINE: Duration = Duration::from_secs(5 * 60);
/// How long a regular activity keeps retrying a settling step (idempotently) through an outage;
/// past this, the workflow fails and staff repair it from the Temporal UI.
const SETTLE_DEADLINE: Duration = Duration::from_secs(30 * 24 * 60 * 60);

fn retry_policy() -> RetryPolicy {
    RetryPolicy::builder()
        .initial_interval(Duration::from_millis(100))
        .backoff_coefficient(2.0)
        .maximum_interval(Duration::from_secs(30))
        .maximum_attempts(0)
        .build()
}

fn ledger_step_options() -> LocalActivityOptions {
    step_options(SETTLE_LOCAL_DEADLINE)
}

fn settle_fallback_options() -> ActivityOptions {
    ActivityOptions::with_close_timeouts(ActivityCloseTimeouts::ScheduleAndStartToClose {
        schedule_to_close: SETTLE_DEADLINE,
        start_to_close: LEDGER_STEP_ATTEMPT_TIMEOUT,
    })
    .retry_policy(retry_policy())
    .build()
}

/// Runs a ledger step that must happen: as a local activity under `local`, and, when that fails
/// for any reason but a rejection (an outage that outlived it), again as a regular activity
/// that retries for up to `SETTLE_DEADLINE`. `activity` names the step (the SDK's activity
/// markers are not `Clone`, so each attempt asks for its own).
pub(crate) async fn local_then_regular<W, AD>(
    ctx: &mut WorkflowContext<W>,
    activity: impl Fn() -> AD,
    input: AD::Input,
    local: LocalActivityOptions,
) -> Result<AD::Output, ActivityExecutionError>
where
    AD: ActivityDefinition,
    AD::Input: Clone,
    AD::Output: TemporalDeserializable,
{
    let result = ctx
        .execute_local_activity(activity(), input.clone(), local)
        .await;
    match result {
        Err(error) if rejection(&error).is_none() => {
            ctx.execute_activity(activity(), input, settle_fallback_options())
                .await
        }
        done => done,
    }
}

pub(crate) fn step_options(deadline: Duration) -> LocalActivityOptions {
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

        let reserved = ctx
            .execute_local_activity(
                LedgerActivities::reserve_transfer,
                input.clone(),
                step_options(RESERVE_DEADLINE),
            )
            .await;
        if let Err(error) = reserved {
            let (code, message) =
                rejection(&error).unwrap_or((RejectionCode::NotReserved, error.to_string()));
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
            ledger_step_options(),
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
            ledger_step_options(),
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
