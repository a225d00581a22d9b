//! The path of a transfer that waits for its owner's approval: reserve, wait for a decision or
//! the deadline, then post or void.
//!
//! The reservation holds the money (counted against the available balance, not the balance)
//! while the run waits, and marks the operation `awaiting_approval` in its own transaction.
//! Decisions are Temporal updates, so a client gets an answer, not a fire-and-forget signal:
//! the validator refuses (before anything is written to the history) a decision of anyone but
//! the owner, about a transfer that waits for none, or that contradicts one already made; a
//! repeated decision is accepted and answered like the first, since the first one stands. An
//! accepted update's handler records the decision and answers once the run settled, so the
//! projections already say POSTED or VOIDED when the client hears back.
//!
//! The wait races the decision against a durable timer to the deadline (APPROVAL_EXPIRED) and
//! against the workflow's cancellation (staff cancelling the run: CANCELLED). Whatever ends it,
//! the post or the void that follows runs detached from the workflow's cancellation
//! (`steps::Scope::Detached`), so a cancelled run still releases the money it reserved.

use crate::contracts::{
    Decision, LedgerActivities, PostTransferInput, TransferInput, TransferOutcome,
};
use crate::steps::{Local, Scope, local_step, local_then_regular};
use crate::transfer::{MOVE_DEADLINE, SETTLE_LOCAL_DEADLINE, TransferWorkflow};
use djinn_domain::{RejectionCode, TransferStatus};
use futures::future::{Either, select};
use std::pin::pin;
use std::time::{Duration, UNIX_EPOCH};
use temporalio_sdk::{CancellableFuture, TimerResult, WorkflowContext, WorkflowResult};

/// The patch under which a transfer with an approval deadline waits for approval. A run of
/// code before it (a worker not yet upgraded) posted at once, which the ledger refuses for such
/// a transfer (APPROVAL_REQUIRED): it was voided, and replays so.
pub const APPROVALS: &str = "approvals";

/// What the owner decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decided {
    Approved,
    /// With the owner's reason, if they gave one.
    Cancelled(Option<String>),
}

/// What ended the wait.
enum Ending {
    Decided(Decided),
    Expired,
    /// Staff cancelled the workflow.
    RunCancelled,
}

/// A validator's refusal, read by the API from the update's failure: the code comes first.
#[derive(Debug)]
struct Refused(RejectionCode);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.as_str(), self.0.message())
    }
}

impl std::error::Error for Refused {}

type UpdateResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

impl TransferWorkflow {
    pub(crate) async fn with_approval(
        ctx: &mut WorkflowContext<Self>,
        input: &TransferInput,
        deadline_ms: i64,
    ) -> WorkflowResult<TransferOutcome> {
        let reserved = local_step(
            ctx,
            LedgerActivities::reserve_transfer,
            input.clone(),
            MOVE_DEADLINE,
            Scope::Workflow,
        )
        .await;
        let cancelled = ctx.cancellation_token().is_cancelled();
        let refused = match reserved {
            Local::Finished(Ok(())) if !cancelled => None,
            _ if cancelled => Some((RejectionCode::Cancelled, "the run was cancelled".to_owned())),
            other => Self::refusal(ctx, other)?,
        };
        if let Some((code, message)) = refused {
            return Self::void(ctx, input, code, message).await;
        }
        Self::settle(ctx, TransferStatus::AwaitingApproval, None);

        let outcome = match Self::wait_for_decision(ctx, deadline_ms).await {
            Ending::Decided(Decided::Approved) => Self::post(ctx, input).await?,
            Ending::Decided(Decided::Cancelled(reason)) => {
                let message = reason.unwrap_or_else(|| "cancelled by its owner".to_owned());
                Self::void(ctx, input, RejectionCode::Cancelled, message).await?
            }
            Ending::RunCancelled => {
                let message = "the run was cancelled".to_owned();
                Self::void(ctx, input, RejectionCode::Cancelled, message).await?
            }
            Ending::Expired => {
                let message = "not approved before its deadline".to_owned();
                Self::void(ctx, input, RejectionCode::ApprovalExpired, message).await?
            }
        };
        // The decision's handler answers once it sees the settled status: let it.
        let handlers = ctx.clone();
        let _ = ctx
            .wait_condition(move |_| handlers.all_handlers_finished())
            .await;
        Ok(outcome)
    }

    /// Waits for the owner's decision (maybe made already, while the money was reserved), the
    /// deadline, or the workflow's cancellation, whichever comes first.
    async fn wait_for_decision(ctx: &mut WorkflowContext<Self>, deadline_ms: i64) -> Ending {
        if let Some(decided) = ctx.state(|state| state.decision.clone()) {
            return Ending::Decided(decided);
        }
        let now_ms = ctx
            .workflow_time()
            .and_then(|now| now.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |since| {
                i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
            });
        let left = u64::try_from(deadline_ms.saturating_sub(now_ms)).unwrap_or(0);
        if left == 0 {
            return Ending::Expired;
        }
        let decided = pin!(ctx.wait_condition(|state| state.decision.is_some()));
        let deadline = pin!(ctx.timer(Duration::from_millis(left)));
        match select(decided, deadline).await {
            Either::Left((waited, deadline)) => {
                deadline.cancel();
                deadline.await;
                match (waited, ctx.state(|state| state.decision.clone())) {
                    (Ok(()), Some(decided)) => Ending::Decided(decided),
                    _ => Ending::RunCancelled,
                }
            }
            Either::Right((TimerResult::Fired, _)) => Ending::Expired,
            Either::Right((TimerResult::Cancelled, _)) => Ending::RunCancelled,
        }
    }

    /// Posts the approved reservation; it must happen, whatever happens to the run meanwhile.
    async fn post(
        ctx: &mut WorkflowContext<Self>,
        input: &TransferInput,
    ) -> WorkflowResult<TransferOutcome> {
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
        match posted {
            Ok(()) => Ok(Self::settle(ctx, TransferStatus::Posted, None)),
            // Refused (settled otherwise meanwhile) or never done within its deadline: the run
            // fails, for staff to look at; the ledger says how the transfer stands.
            Err(error) => Err(error.into()),
        }
    }

    /// Whether `by` may make `wanted`: the owner, about a transfer that waits for a decision,
    /// and not against one made already (the same one again is accepted: it stands).
    pub(crate) fn may_decide(&self, by: &Decision, wanted: &Decided) -> UpdateResult<()> {
        if by.user_id != self.input.user_id {
            return Err(Box::new(Refused(RejectionCode::TransferNotFound)));
        }
        let same_kind =
            |made: &Decided| std::mem::discriminant(made) == std::mem::discriminant(wanted);
        let waits = self.input.approval_deadline_ms.is_some()
            && matches!(
                self.status,
                TransferStatus::Pending | TransferStatus::AwaitingApproval
            );
        match &self.decision {
            Some(made) if same_kind(made) => Ok(()),
            None if waits => Ok(()),
            _ => Err(Box::new(Refused(RejectionCode::NotAwaitingApproval))),
        }
    }

    /// Records the decision (the first one stands) and answers with the status the run settles
    /// in.
    pub(crate) async fn decide(
        ctx: &mut WorkflowContext<Self>,
        decided: Decided,
    ) -> UpdateResult<TransferStatus> {
        ctx.state_mut(|state| {
            state.decision.get_or_insert(decided);
        });
        ctx.wait_condition(|state| {
            matches!(
                state.status,
                TransferStatus::Posted | TransferStatus::Voided
            )
        })
        .await?;
        Ok(ctx.state(|state| state.status))
    }
}
