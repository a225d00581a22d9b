//! The mutations that start workflows, one module each, over the start logic they share. Each
//! parses its input into domain types (every problem a `userError`), answers from the
//! operation registry when the request was seen before, and otherwise registers the operation
//! and starts its workflow.
//!
//! Registering before starting is what makes a request idempotent across API replicas and
//! crashes: the row is claimed once per (user, key), and starting the workflow is itself
//! idempotent (its id derives from the key, and an existing run is reused), so a retry after a
//! crash between the two steps starts the workflow that the first attempt did not.

mod create_transfer;
mod open_account;

pub use create_transfer::create_transfer;
pub use open_account::open_account;

use crate::schema::money::MoneyInputError;
use crate::schema::{UserError, internal};
use crate::server::AppState;
use async_graphql::Result;
use djinn_domain::{RejectionCode, TransferStatus, UserId};
use djinn_workflows::memo;
use djinn_workflows::search_attributes::{DJINN_OPERATION, DJINN_STATUS, DJINN_USER_ID};
use temporalio_client::errors::WorkflowStartError;
use temporalio_client::{WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowStartOptions};
use temporalio_common::MemoValues;
use temporalio_common::search_attributes::SearchAttributes;

/// Options that make starting a workflow idempotent: its id derives from the operation, a
/// running workflow is reused, and a finished one is never started again. Staff find it by
/// its search attributes and read its summary in the memo (see `djinn_workflows::memo`).
///
/// Eager Workflow Start: when this process runs a worker on the task queue with a free slot
/// (`djinn api` does, unless DJINN_API_RUNS_WORKFLOWS=false), the server answers the start with
/// the run's first workflow task, already started, and the SDK hands it to that worker. A
/// transfer ends within that task, so the server neither dispatches it through matching nor
/// writes its start separately. Without such a worker the SDK sends an ordinary start (and a
/// server that disallows eager starts declines the request): any worker takes the task. A
/// worker that dies holding an eager task loses it like any other, and the server gives it to
/// another worker when the task times out.
pub(crate) fn start_options(
    app: &AppState,
    workflow_id: &str,
    user: UserId,
    operation: &str,
    reuse: WorkflowIdReusePolicy,
    summary: String,
) -> WorkflowStartOptions {
    let mut memo = MemoValues::new();
    memo.insert(memo::SUMMARY, summary);
    WorkflowStartOptions::new(app.task_queue.clone(), workflow_id.to_owned())
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
/// run's first workflow task, which the SDK hands to the API's worker when the answer arrives:
/// were the start cancelled with its request (the client gone, the request timed out) after
/// the server answered, that task would wait for its timeout (10 s) before another worker got
/// it. A start that found its workflow already started (or finished) has done its job.
pub(crate) async fn started_apart(
    start: impl Future<Output = Result<(), WorkflowStartError>> + Send + 'static,
) -> Result<()> {
    match tokio::spawn(start).await.map_err(internal)? {
        Ok(()) | Err(WorkflowStartError::AlreadyStarted { .. }) => Ok(()),
        Err(error) => Err(internal(error)),
    }
}

pub(crate) fn money_error(error: MoneyInputError, path: &[&str]) -> UserError {
    let field = |leaf: &'static str| -> Vec<&str> { path.iter().copied().chain([leaf]).collect() };
    match error {
        MoneyInputError::Currency(message) => {
            UserError::new(&field("currency"), "INVALID_CURRENCY", message)
        }
        MoneyInputError::Amount(error) => UserError::rejection(
            &field("amount"),
            RejectionCode::InvalidAmount,
            error.to_string(),
        ),
    }
}
