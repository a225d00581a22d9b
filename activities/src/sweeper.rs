//! Nothing stays pending for ever. An operation is registered before its workflow starts, and
//! settled by its workflow's last step; two things can leave it pending: the api died between
//! registering and starting (and the client never repeated the request), or the run ended
//! without settling it (staff terminated it, it failed, it timed out). The sweeper, a loop in
//! every `djinn worker`, looks at the operations untouched for `SweeperSettings::quiet_for` and
//! asks Temporal about each one's workflow:
//! - none: it starts it, as the api would have (`djinn_temporal::starts`), and the run settles
//!   the operation;
//! - running: it leaves it (the run's own deadlines apply);
//! - ended without settling it: a transfer is voided through the ledger's void (which leaves a
//!   tombstone, so that nothing can move it later) with RUN_ENDED; an opening ends `failed`
//!   with RUN_ENDED, and a client that repeats the request revives it.
//!
//! Statement imports and reconciliation runs are swept the same way (`long_runs`).
//!
//! A loop in the worker rather than a Temporal Schedule: every action is idempotent (a start
//! reuses a running workflow, the void and the failure are guarded by the operation's status),
//! so any number of workers may sweep at once without coordinating, and a sweep needs no
//! durable state or history of its own. A pending operation is settled within `quiet_for` plus
//! one `interval`, while a worker runs.

mod long_runs;

use djinn_domain::RejectionCode;
use djinn_ledger::StoreError;
use djinn_store::operations::{self, OperationKind};
use djinn_store::sweeping::{self, Overdue};
use djinn_store::{PgPool, openings};
use djinn_temporal::starts;
use djinn_workflows::{OpenAccountInput, TransferWorkflow};
use std::future::Future;
use std::time::Duration;
use temporalio_client::errors::WorkflowInteractionError;
use temporalio_client::{Client, WorkflowDescribeOptions, WorkflowExecutionStatus};

/// Operations read per page, and pages per sweep: a bounded amount of work per sweep, which
/// walks past the operations it leaves (runs still going) so they never hide the others.
pub const SWEEP_BATCH_MAX: i64 = 100;
pub const SWEEP_PAGES_MAX: usize = 20;

/// How often the sweeper looks, and how long an operation must have been untouched first.
#[derive(Clone, Copy, Debug)]
pub struct SweeperSettings {
    pub interval: Duration,
    pub quiet_for: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Start(#[from] starts::StartError),
    #[error("cannot describe the workflow: {0}")]
    Describe(#[from] WorkflowInteractionError),
    #[error("the registered operation {0} has no request")]
    Unregistered(String),
}

/// What one sweep did, by operation or long run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub started: usize,
    pub settled: usize,
    pub running: usize,
}

impl Swept {
    fn add(&mut self, action: Action) {
        match action {
            Action::Started => self.started += 1,
            Action::Settled => self.settled += 1,
            Action::Left => self.running += 1,
        }
    }
}

/// Sweeps every `settings.interval` until `shutdown` resolves. A sweep that fails is logged and
/// the next one tries again.
pub async fn run(
    pool: PgPool,
    client: Client,
    task_queue: String,
    settings: SweeperSettings,
    shutdown: impl Future<Output = ()>,
) {
    let sweeping = async {
        loop {
            match sweep_once(&pool, &client, &task_queue, settings.quiet_for).await {
                Ok(swept) if swept != Swept::default() => tracing::info!(?swept, "swept"),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "sweep failed; the next one tries again"),
            }
            tokio::time::sleep(settings.interval).await;
        }
    };
    tokio::select! {
        () = sweeping => {}
        () = shutdown => {}
    }
}

/// Looks once at the operations untouched for `quiet_for` and starts or settles each.
pub async fn sweep_once(
    pool: &PgPool,
    client: &Client,
    task_queue: &str,
    quiet_for: Duration,
) -> Result<Swept, SweepError> {
    let mut swept = Swept::default();
    let mut after: Option<Overdue> = None;
    for _ in 0..SWEEP_PAGES_MAX {
        let page = sweeping::overdue(pool, quiet_for, after.as_ref(), SWEEP_BATCH_MAX).await?;
        for operation in &page {
            match sweep_one(pool, client, task_queue, operation).await {
                Ok(action) => swept.add(action),
                Err(error) => {
                    tracing::warn!(%error, operation_id = %operation.id, "cannot sweep an operation");
                }
            }
        }
        match page.last() {
            Some(last) if page.len() as i64 == SWEEP_BATCH_MAX => after = Some(last.clone()),
            _ => break,
        }
    }
    long_runs::sweep(pool, client, task_queue, quiet_for, &mut swept).await?;
    Ok(swept)
}

/// The status of the workflow `workflow_id`, or `None` when there is none.
async fn describe(
    client: &Client,
    workflow_id: &str,
) -> Result<Option<WorkflowExecutionStatus>, SweepError> {
    let handle = client.get_workflow_handle::<TransferWorkflow>(workflow_id.to_owned());
    match handle.describe(WorkflowDescribeOptions::default()).await {
        Ok(description) => Ok(Some(description.status())),
        Err(WorkflowInteractionError::NotFound(_)) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

enum Action {
    Started,
    Settled,
    Left,
}

async fn sweep_one(
    pool: &PgPool,
    client: &Client,
    task_queue: &str,
    operation: &Overdue,
) -> Result<Action, SweepError> {
    let Some(status) = describe(client, &operation.workflow_id).await? else {
        start(pool, client, task_queue, operation).await?;
        return Ok(Action::Started);
    };
    // A run that completed settles its operation in its last step; one still pending after it
    // is settled here like the others (the void refuses a posted transfer).
    if !ended(status) {
        return Ok(Action::Left);
    }
    settle(pool, operation, &format!("its run ended {status:?}")).await?;
    Ok(Action::Settled)
}

/// Whether a workflow's run is over, however it ended.
fn ended(status: WorkflowExecutionStatus) -> bool {
    matches!(
        status,
        WorkflowExecutionStatus::Completed
            | WorkflowExecutionStatus::Failed
            | WorkflowExecutionStatus::Terminated
            | WorkflowExecutionStatus::TimedOut
            | WorkflowExecutionStatus::Canceled
    )
}

/// Starts the workflow of a registration the api never started, as the api would have.
async fn start(
    pool: &PgPool,
    client: &Client,
    task_queue: &str,
    operation: &Overdue,
) -> Result<(), SweepError> {
    let unregistered = || SweepError::Unregistered(operation.id.to_string());
    match operation.kind {
        OperationKind::Transfer => {
            let view = operations::get_transfer(pool, operation.user_id, operation.id)
                .await?
                .ok_or_else(unregistered)?;
            starts::start_transfer(client, task_queue, &view).await?;
        }
        OperationKind::OpenAccount => {
            let (view, request) = openings::get_opening(pool, operation.user_id, operation.id)
                .await?
                .ok_or_else(unregistered)?;
            let name =
                djinn_domain::AccountName::parse(&request.name).map_err(|_| unregistered())?;
            let input = OpenAccountInput {
                operation_id: view.id,
                account_id: djinn_domain::AccountId::from_uuid(view.id.as_uuid()),
                user_id: view.user_id,
                name,
                kind: request.kind,
                opening_balance: request.opening_balance,
                overdraft_limit: request.overdraft_limit,
            };
            starts::start_opening(client, task_queue, &view.workflow_id, input).await?;
        }
    }
    tracing::info!(operation_id = %operation.id, "started a registration nobody started");
    Ok(())
}

/// Settles an operation whose run ended without settling it, with RUN_ENDED.
async fn settle(pool: &PgPool, operation: &Overdue, why: &str) -> Result<(), SweepError> {
    let code = RejectionCode::RunEnded.as_str();
    match operation.kind {
        OperationKind::Transfer => {
            let view = operations::get_transfer(pool, operation.user_id, operation.id)
                .await?
                .ok_or_else(|| SweepError::Unregistered(operation.id.to_string()))?;
            let key = &view.operation.idempotency_key;
            match djinn_ledger::void_transfer(pool, operation.id, operation.user_id, key, code, why)
                .await
            {
                // A step of the ended run committed before it ended: the money moved, and
                // that step marked the operation posted.
                Err(StoreError::Rejected(rejection))
                    if rejection.code == RejectionCode::TransferPosted => {}
                voided => {
                    voided?;
                }
            }
        }
        OperationKind::OpenAccount => {
            openings::fail_opening(pool, operation.user_id, operation.id, code, why).await?;
        }
    }
    tracing::info!(operation_id = %operation.id, why, "settled an operation its run left pending");
    Ok(())
}
