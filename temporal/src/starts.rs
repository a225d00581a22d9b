//! Starting Djinn's workflows for operations the store registered: the API starts them when a
//! request registers them, and the sweeper (`djinn_activities::sweeper`) when a registration
//! was never started. Both start them the same way, so that a start is idempotent whoever
//! makes it: the id derives from the operation, a running workflow is reused, and a transfer
//! that ended is never started again.

use djinn_domain::{Description, IdempotencyKey, TransferRequest, TransferStatus, UserId};
use djinn_store::operations::TransferView;
use djinn_workflows::memo;
use djinn_workflows::search_attributes::{DJINN_OPERATION, DJINN_STATUS, DJINN_USER_ID};
use djinn_workflows::{
    ImportInput, ImportStatementWorkflow, OpenAccountInput, OpenAccountWorkflow, ReconcileInput,
    ReconciliationWorkflow, TransferInput, TransferWorkflow, reconciliation_workflow_id,
};
use temporalio_client::errors::WorkflowStartError;
use temporalio_client::{
    Client, WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowStartOptions,
};
use temporalio_common::MemoValues;
use temporalio_common::search_attributes::SearchAttributes;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The registered operation cannot be turned into a workflow input: the store and the
    /// domain disagree.
    #[error("the registered operation is malformed: {0}")]
    Malformed(String),
    #[error("cannot start the workflow: {0}")]
    Start(#[from] WorkflowStartError),
    #[error("the start's task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Starts the transfer's workflow, or finds it started: a transfer run that ended, however it
/// ended, is never replaced (money may have moved, and only staff decide what happens next).
#[tracing::instrument(skip_all, fields(operation_id = %view.operation.id))]
pub async fn start_transfer(
    client: &Client,
    task_queue: &str,
    view: &TransferView,
) -> Result<(), StartError> {
    let input = transfer_input(view)?;
    let options = start_options(
        task_queue,
        &view.operation.workflow_id,
        view.operation.user_id,
        "transfer",
        WorkflowIdReusePolicy::RejectDuplicate,
        memo::transfer_summary(&input.request),
    );
    let client = client.clone();
    started_apart(async move {
        client
            .start_workflow(TransferWorkflow::run, input, options)
            .await
            .map(drop)
    })
    .await
}

/// The workflow input of a registered transfer, as the API, the sweeper and a recurring
/// transfer's run all start it.
pub fn transfer_input(view: &TransferView) -> Result<TransferInput, StartError> {
    let description = view
        .description
        .as_deref()
        .map(Description::parse)
        .transpose()
        .map_err(|e| StartError::Malformed(e.to_string()))?
        .flatten();
    let idempotency_key = IdempotencyKey::parse(&view.operation.idempotency_key)
        .map_err(|e| StartError::Malformed(e.to_string()))?;
    Ok(TransferInput {
        transfer_id: view.operation.id,
        user_id: view.operation.user_id,
        idempotency_key,
        request: TransferRequest {
            from: view.from,
            to: view.to,
            amount: view.amount,
            description,
        },
        trace: crate::trace_context::current_traceparent(),
        approval_deadline_ms: view.approval_deadline.map(|at| at.timestamp_millis()),
    })
}

/// Starts the opening's workflow, or finds it started. Opening is idempotent per account id
/// (the operation's id), so a run that failed or was terminated before it opened the account is
/// replaced by a new one: it opens the account, or finds it opened.
pub async fn start_opening(
    client: &Client,
    task_queue: &str,
    workflow_id: &str,
    input: OpenAccountInput,
) -> Result<(), StartError> {
    let summary = memo::opening_summary(
        &input.name,
        input.kind,
        input.opening_balance,
        input.overdraft_limit,
    );
    let options = start_options(
        task_queue,
        workflow_id,
        input.user_id,
        "open_account",
        WorkflowIdReusePolicy::AllowDuplicateFailedOnly,
        summary,
    );
    let client = client.clone();
    started_apart(async move {
        client
            .start_workflow(OpenAccountWorkflow::run, input, options)
            .await
            .map(drop)
    })
    .await
}

/// Options that make starting a workflow idempotent: its id derives from the operation, a
/// running workflow is reused, and `reuse` says whether a finished one may be replaced. Staff
/// find it by its search attributes and read its summary in the memo (`djinn_workflows::memo`).
///
/// Eager Workflow Start: when this process runs a worker on the task queue with a free slot
/// (`djinn api` does, unless DJINN_API_RUNS_WORKFLOWS=false), the server answers the start with
/// the run's first workflow task, already started, and the SDK hands it to that worker. A
/// transfer ends within that task, so the server neither dispatches it through matching nor
/// writes its start separately. Without such a worker the SDK sends an ordinary start (and a
/// server that disallows eager starts declines the request): any worker takes the task. A
/// worker that dies holding an eager task loses it like any other, and the server gives it to
/// another worker when the task times out.
fn start_options(
    task_queue: &str,
    workflow_id: &str,
    user: UserId,
    operation: &str,
    reuse: WorkflowIdReusePolicy,
    summary: String,
) -> WorkflowStartOptions {
    let mut memo = MemoValues::new();
    memo.insert(memo::SUMMARY, summary);
    WorkflowStartOptions::new(task_queue.to_owned(), workflow_id.to_owned())
        .id_reuse_policy(reuse)
        .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
        .search_attributes(SearchAttributes::new([
            DJINN_USER_ID.value_set(user.to_string()),
            DJINN_OPERATION.value_set(operation.to_owned()),
            DJINN_STATUS.value_set(TransferStatus::Pending.as_str().to_owned()),
        ]))
        .memo(memo)
        .enable_eager_workflow_start(true)
        .build()
}

/// Runs `start` on a task of its own and waits for it. An eager start's answer carries the
/// run's first workflow task, which the SDK hands to the starting process's worker when the
/// answer arrives: were the start cancelled with its request (the client gone, the request
/// timed out) after the server answered, that task would wait for its timeout (10 s) before
/// another worker got it. A start that found its workflow already started (or finished) has
/// done its job.
async fn started_apart(
    start: impl Future<Output = Result<(), WorkflowStartError>> + Send + 'static,
) -> Result<(), StartError> {
    match tokio::spawn(start).await? {
        Ok(()) | Err(WorkflowStartError::AlreadyStarted { .. }) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Starts a statement import's workflow, or finds it started; an import that ended is never
/// started again (its lines are written).
pub async fn start_import(
    client: &Client,
    task_queue: &str,
    workflow_id: &str,
    input: ImportInput,
) -> Result<(), StartError> {
    let options = long_run_options(
        task_queue,
        workflow_id,
        input.user_id,
        "import",
        format!("statement import {}", input.import_id),
    );
    let client = client.clone();
    started_apart(async move {
        client
            .start_workflow(ImportStatementWorkflow::run, input, options)
            .await
            .map(drop)
    })
    .await
}

/// Starts a reconciliation run's workflow, or finds it started.
pub async fn start_reconciliation(
    client: &Client,
    task_queue: &str,
    input: ReconcileInput,
) -> Result<(), StartError> {
    let workflow_id = reconciliation_workflow_id(&input);
    let summary = format!("reconciliation {}", input.run_id);
    let options = long_run_options(
        task_queue,
        &workflow_id,
        input.user_id,
        "reconciliation",
        summary,
    );
    let client = client.clone();
    started_apart(async move {
        client
            .start_workflow(ReconciliationWorkflow::run, input, options)
            .await
            .map(drop)
    })
    .await
}

/// The options of a run that is started once and never again, and not eagerly: an import or a
/// reconciliation is long, and no client waits for its first task.
fn long_run_options(
    task_queue: &str,
    workflow_id: &str,
    user: UserId,
    operation: &str,
    summary: String,
) -> WorkflowStartOptions {
    let mut options = start_options(
        task_queue,
        workflow_id,
        user,
        operation,
        WorkflowIdReusePolicy::RejectDuplicate,
        summary,
    );
    options.enable_eager_workflow_start = false;
    options
}
