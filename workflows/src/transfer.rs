//! A transfer between two of a user's accounts: validate -> reserve and post, or void.
//!
//! The transfers of this workflow have nothing to wait for between reserving and posting (no
//! approval, no payment rail), so one ledger step does both in one database transaction
//! (`LedgerActivities::reserve_and_post_transfer`): the source's balance is checked and moved
//! in one statement, and the entry is written posted. A reservation exists to hold money while
//! something decides; with nothing to decide it would be posted at once, at the cost of a
//! second call, commit and history marker. A transfer that must wait for an approval takes
//! the two steps the ledger keeps for it, `reserve_transfer` then `post_transfer` or void
//! ([`crate::approval`]).
//!
//! The ledger steps run as local activities. On a small cluster the Temporal server, not the
//! worker, limits throughput, and each remote activity costs a round of server tasks (schedule,
//! start, complete, a new workflow task). Local activities run inside the workflow task, so a
//! whole transfer is one workflow task from start to completion: the step is a short single
//! transaction, well inside the workflow task timeout. Its result is recorded as a marker in
//! the history, and the step is idempotent, so a worker that dies mid-transfer is replaced by
//! one that replays the history and re-runs the step at worst once more, harmlessly. A void
//! must happen once the workflow decided on it: a void that keeps failing through an outage
//! moves from a local to a regular activity, which retries without growing history.
//!
//! The step is retried for `MOVE_DEADLINE` and then given up: the user is waiting for an
//! answer. Giving up voids the transfer, and the void leaves a tombstone that no later attempt
//! can get past. If an attempt had committed but its answer was lost, the void finds the
//! transfer posted and refuses (TRANSFER_POSTED): the workflow then ends POSTED, as the ledger
//! says.

use crate::contracts::{
    Decision, LedgerActivities, TransferInput, TransferOutcome, VoidTransferInput,
};
use crate::failure::rejection;
use crate::observe::{self, RunExecuting};
use crate::search_attributes::DJINN_STATUS;
use crate::steps::{Local, Scope, local_step, local_then_regular};
use djinn_domain::{RejectionCode, TransferStatus};
use std::time::Duration;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowContextView, WorkflowResult};

pub(crate) use crate::approval::Decided;

/// How long the ledger step keeps being retried through infrastructure failures before the
/// transfer is voided instead: the user is waiting for an answer.
pub(crate) const MOVE_DEADLINE: Duration = Duration::from_secs(10 * 60);
/// A void must eventually happen once decided. It first runs as a local activity for this long;
/// a local activity that keeps failing heartbeats the workflow task and grows the history, so
/// past this the step continues as a regular activity.
pub(crate) const SETTLE_LOCAL_DEADLINE: Duration = Duration::from_secs(5 * 60);
/// The patch under which a transfer given up on is voided with a code that says why
/// (TIMED_OUT, LEDGER_INVARIANT, LEDGER_STEP_FAILED). Runs started before it void such a
/// transfer as NOT_RESERVED, and keep doing so when they are replayed.
pub const CODES_SAY_WHAT_HAPPENED: &str = "codes-say-what-happened";
/// The patch under which a run whose ledger step found no registered operation for its input
/// fails instead of voiding. Recorded only on that path.
pub const FORGED_RUNS_FAIL: &str = "forged-runs-fail";

/// The type is `#[init]`ialised from its input, so that its update validators, which may run
/// before the run's first step, know whose transfer it is and whether it waits for approval.
#[workflow]
#[derive(Debug)]
pub struct TransferWorkflow {
    pub(crate) input: TransferInput,
    pub(crate) status: TransferStatus,
    /// The owner's decision, once an update made it (see `crate::approval`).
    pub(crate) decision: Option<Decided>,
}

#[workflow_methods]
impl TransferWorkflow {
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: TransferInput) -> Self {
        Self {
            input,
            status: TransferStatus::Pending,
            decision: None,
        }
    }

    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<TransferOutcome> {
        let input = ctx.state(|state| state.input.clone());
        let _executing = observe::executing(
            ctx.is_replaying(),
            &RunExecuting {
                workflow: "transfer",
                workflow_id: ctx.workflow_id(),
                run_id: ctx.run_id(),
                operation_id: input.transfer_id,
                user_id: input.user_id,
                trace: input.trace.as_deref(),
            },
        );
        if let Err(invalid) = input.request.validate() {
            let code = RejectionCode::from(invalid.clone());
            return Self::void(ctx, &input, code, invalid.to_string()).await;
        }
        if let Some(deadline_ms) = input.approval_deadline_ms
            && ctx.patched(crate::approval::APPROVALS)
        {
            return Self::with_approval(ctx, &input, deadline_ms).await;
        }

        let moved = local_step(
            ctx,
            LedgerActivities::reserve_and_post_transfer,
            input.clone(),
            MOVE_DEADLINE,
            Scope::Workflow,
        )
        .await;
        if let Some((code, message)) = Self::refusal(ctx, moved)? {
            return Self::void(ctx, &input, code, message).await;
        }
        Ok(Self::settle(ctx, TransferStatus::Posted, None))
    }

    /// The transfer's status as the workflow sees it.
    #[query]
    pub fn status(&self, _ctx: &WorkflowContextView) -> TransferStatus {
        self.status
    }

    #[update_validator(approve)]
    pub fn validate_approve(
        &self,
        _ctx: &WorkflowContextView,
        by: &Decision,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.may_decide(by, &Decided::Approved)
    }

    /// The owner approves the transfer: it is posted. Answers the status it settled in.
    #[update]
    pub async fn approve(
        ctx: &mut WorkflowContext<Self>,
        _by: Decision,
    ) -> Result<TransferStatus, Box<dyn std::error::Error + Send + Sync>> {
        Self::decide(ctx, Decided::Approved).await
    }

    #[update_validator(cancel)]
    pub fn validate_cancel(
        &self,
        _ctx: &WorkflowContextView,
        by: &Decision,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.may_decide(by, &Decided::Cancelled(None))
    }

    /// The owner cancels the transfer: it is voided (CANCELLED) and the money released.
    #[update]
    pub async fn cancel(
        ctx: &mut WorkflowContext<Self>,
        by: Decision,
    ) -> Result<TransferStatus, Box<dyn std::error::Error + Send + Sync>> {
        Self::decide(ctx, Decided::Cancelled(by.reason)).await
    }
}

impl TransferWorkflow {
    /// What a step that takes the money came to: nothing to say when it moved it, else the code
    /// and words to void with. A step that found no registered operation fails the run.
    pub(crate) fn refusal(
        ctx: &mut WorkflowContext<Self>,
        moved: Local<()>,
    ) -> WorkflowResult<Option<(RejectionCode, String)>> {
        Ok(match moved {
            Local::Finished(Ok(())) => None,
            Local::Finished(Err(error)) => {
                let (code, message) = rejection(&error)
                    .unwrap_or((RejectionCode::LedgerStepFailed, error.to_string()));
                if code == RejectionCode::NotRegistered && ctx.patched(FORGED_RUNS_FAIL) {
                    // No operation registered what this run was given (it was started past
                    // the API): there is nothing of the user's to void, and a void would claim
                    // the id of a transfer that may be registered under it. The run fails.
                    return Err(error.into());
                }
                let gave_up = matches!(
                    code,
                    RejectionCode::LedgerInvariant | RejectionCode::LedgerStepFailed
                );
                Some((
                    if gave_up {
                        Self::gave_up(ctx, code)
                    } else {
                        code
                    },
                    message,
                ))
            }
            Local::OutOfTime => Some((
                Self::gave_up(ctx, RejectionCode::TimedOut),
                "the transfer did not complete in time".to_owned(),
            )),
        })
    }

    /// The code a transfer that was given up on is voided with: `code`, or NOT_RESERVED in the
    /// runs started before [`CODES_SAY_WHAT_HAPPENED`]. Only these rare paths record the patch.
    fn gave_up(ctx: &mut WorkflowContext<Self>, code: RejectionCode) -> RejectionCode {
        if ctx.patched(CODES_SAY_WHAT_HAPPENED) {
            code
        } else {
            RejectionCode::NotReserved
        }
    }

    /// Voids the transfer, detached from the workflow's cancellation (`steps::Scope`).
    pub(crate) async fn void(
        ctx: &mut WorkflowContext<Self>,
        input: &TransferInput,
        code: RejectionCode,
        message: String,
    ) -> WorkflowResult<TransferOutcome> {
        let void = VoidTransferInput {
            transfer_id: input.transfer_id,
            user_id: input.user_id,
            idempotency_key: input.idempotency_key.clone(),
            code,
            message,
        };
        let voided = local_then_regular(
            ctx,
            || LedgerActivities::void_transfer,
            void,
            SETTLE_LOCAL_DEADLINE,
        )
        .await;
        match voided {
            Ok(()) => Ok(Self::settle(ctx, TransferStatus::Voided, Some(code))),
            // An attempt of the ledger step committed, but its answer was lost: the money moved.
            Err(error)
                if rejection(&error)
                    .is_some_and(|(refused, _)| refused == RejectionCode::TransferPosted) =>
            {
                Ok(Self::settle(ctx, TransferStatus::Posted, None))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Records the status (state and DjinnStatus); a final one is also returned as the outcome.
    pub(crate) fn settle(
        ctx: &mut WorkflowContext<Self>,
        status: TransferStatus,
        failure: Option<RejectionCode>,
    ) -> TransferOutcome {
        ctx.state_mut(|state| state.status = status);
        ctx.upsert_search_attributes([DJINN_STATUS.value_set(status.as_str().to_owned())]);
        TransferOutcome {
            status,
            failure_code: failure,
        }
    }
}
