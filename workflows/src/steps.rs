//! How a ledger step runs inside a workflow: first as a local activity, inside the workflow task
//! and with no round trip to the server, for as long as a deadline allows; and, for a step that
//! must happen once money is reserved (posting, voiding, opening an account), then as a regular
//! activity that retries through a long outage without growing the history.
//!
//! A local step's deadline is the local activity's schedule-to-close timeout, which counts from
//! when a worker scheduled it, and a durable timer of the same length that races it. A run is
//! replayed whenever a worker loses it from its cache: the worker crashed, it evicted the run,
//! or a workflow task timed out on a busy machine. The replay schedules the local activity again
//! with its whole timeout ahead, so a step failing through an outage could start over on every
//! replay and never move on. The timer cannot start over: it is recorded in the history with
//! the first heartbeat of the workflow task (after 80% of the task timeout, while the step is
//! still failing) and fires on the server, so a step gives up at most one heartbeat interval
//! after its deadline, whatever happens to the workers. On the normal path the step finishes
//! inside the first workflow task and the timer is cancelled before it was ever sent: it costs
//! the history nothing (`tests/tests/transfer_flow.rs` checks the history of a transfer).
//!
//! A step that settles money a run already reserved or decided on (a post, a void) runs
//! [`Scope::Detached`]: cancelling the workflow (staff, from the Temporal UI) does not cancel
//! it, so a reservation is never left holding the money of a run that was cancelled.

use crate::failure::rejection;
use futures::future::{Either, select};
use std::pin::pin;
use std::time::Duration;
use temporalio_common::data_converters::TemporalDeserializable;
use temporalio_common::{ActivityCloseTimeouts, ActivityDefinition, RetryPolicy};
use temporalio_sdk::{
    ActivityCancellationType, ActivityExecutionError, ActivityOptions, CancellableFuture,
    LocalActivityOptions, TimerOptions, WorkflowCancellationToken, WorkflowContext,
};

/// How long one attempt of a ledger step may take: a single short database transaction.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
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

/// Whether cancelling the workflow cancels a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Cancelled with the workflow: a step that has not moved money yet.
    Workflow,
    /// Runs to its end whatever happens to the workflow: a post or a void.
    Detached,
}

impl Scope {
    fn token(self) -> Option<WorkflowCancellationToken> {
        match self {
            Scope::Workflow => None,
            Scope::Detached => Some(WorkflowCancellationToken::new()),
        }
    }
}

/// What a local step came to.
#[expect(
    clippy::large_enum_variant,
    reason = "as large as the SDK's own result, returned once and matched at once"
)]
pub(crate) enum Local<T> {
    /// The local activity finished, well or not, within its deadline.
    Finished(Result<T, ActivityExecutionError>),
    /// The deadline's timer fired first (or the workflow was cancelled): the step was cancelled.
    OutOfTime,
}

/// Runs a ledger step as a local activity that retries until `deadline`, raced against a
/// durable timer of the same length (see the module header).
pub(crate) async fn local_step<W, AD>(
    ctx: &WorkflowContext<W>,
    activity: AD,
    input: AD::Input,
    deadline: Duration,
    scope: Scope,
) -> Local<AD::Output>
where
    AD: ActivityDefinition,
    AD::Output: TemporalDeserializable,
{
    let token = scope.token();
    let options = LocalActivityOptions::builder()
        .start_to_close_timeout(ATTEMPT_TIMEOUT)
        .schedule_to_close_timeout(deadline)
        .retry_policy(retry_policy())
        // Once cancelled, the step is not waited for: an attempt still running (a statement
        // waiting on a lock) would otherwise hold back the workflow task for up to its lock
        // timeout. It is harmless: every step is idempotent and its statements time out.
        .cancel_type(ActivityCancellationType::Abandon)
        .maybe_cancellation_token(token.clone())
        .build();
    let step = pin!(ctx.execute_local_activity(activity, input, options));
    let timer = pin!(
        ctx.timer(
            TimerOptions::builder(deadline)
                .maybe_cancellation_token(token)
                .build()
        )
    );
    // The loser is cancelled and then awaited, never just dropped: until it resolves it stays
    // registered with the workflow's cancellation, which keeps the whole run alive after it
    // ended, so the worker's memory grew with every transfer and was never given back.
    match select(step, timer).await {
        Either::Left((finished, timer)) => {
            timer.cancel();
            timer.await;
            Local::Finished(finished)
        }
        Either::Right((_, step)) => {
            step.cancel();
            let _abandoned = step.await;
            Local::OutOfTime
        }
    }
}

fn settle_fallback_options() -> ActivityOptions {
    ActivityOptions::with_close_timeouts(ActivityCloseTimeouts::ScheduleAndStartToClose {
        schedule_to_close: SETTLE_DEADLINE,
        start_to_close: ATTEMPT_TIMEOUT,
    })
    .retry_policy(retry_policy())
    .cancellation_token(WorkflowCancellationToken::new())
    .build()
}

/// Runs a ledger step that must happen, detached from the workflow's cancellation: as a local
/// activity for up to `local_deadline`, and,
/// when that fails for any reason but a rejection (an outage that outlived it), again as a
/// regular activity that retries for up to `SETTLE_DEADLINE`. `activity` names the step (the
/// SDK's activity markers are not `Clone`, so each attempt asks for its own).
pub(crate) async fn local_then_regular<W, AD>(
    ctx: &mut WorkflowContext<W>,
    activity: impl Fn() -> AD,
    input: AD::Input,
    local_deadline: Duration,
) -> Result<AD::Output, ActivityExecutionError>
where
    AD: ActivityDefinition,
    AD::Input: Clone,
    AD::Output: TemporalDeserializable,
{
    let local = local_step(
        ctx,
        activity(),
        input.clone(),
        local_deadline,
        Scope::Detached,
    )
    .await;
    match local {
        Local::Finished(Err(error)) if rejection(&error).is_none() => {}
        Local::Finished(done) => return done,
        Local::OutOfTime => {}
    }
    ctx.execute_activity(activity(), input, settle_fallback_options())
        .await
}
