//! A statement import: check the whole file, then write its lines in batches. The file stays in
//! the database (the workflow carries the import's id), and the writing is one activity that
//! heartbeats its progress and writes each bounded batch in a transaction of its own, resuming
//! after the last batch written when it is retried. So a file of a million lines costs the
//! history a handful of events, and the worker holds a few batches of lines at a time.
//!
//! A file refused by the check (malformed, unbalanced, in another currency) ends the import
//! FAILED with its code before anything is written. A step that fails for good (the database
//! down for longer than the retries, the lines taking the account below its floor) ends it
//! FAILED with the step's message: the batches written stay written, and a new import of the
//! same file adds only what is missing.

use crate::contracts::{FinishImportInput, ImportInput, ImportOutcome, StatementActivities};
use std::time::Duration;
use temporalio_common::RetryPolicy;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ActivityExecutionError, ActivityOptions, WorkflowContext, WorkflowResult};

/// How long the whole read of a file may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How long writing every line may take, all batches together.
const WRITE_TIMEOUT: Duration = Duration::from_secs(4 * 60 * 60);
/// How long the writing may go without a heartbeat (one batch) before it is retried.
const WRITE_HEARTBEAT: Duration = Duration::from_secs(60);
/// How often a step is tried before the import fails.
const ATTEMPTS: u32 = 10;

/// The code of an import that failed for another reason than its file's content.
pub const IMPORT_FAILED: &str = "IMPORT_FAILED";

#[workflow]
#[derive(Debug, Default)]
pub struct ImportStatementWorkflow;

#[workflow_methods]
impl ImportStatementWorkflow {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: ImportInput,
    ) -> WorkflowResult<ImportOutcome> {
        let check = ActivityOptions::with_start_to_close_timeout(CHECK_TIMEOUT)
            .retry_policy(retries())
            .build();
        let checked = match ctx
            .execute_activity(StatementActivities::check_import, input, check)
            .await
        {
            Ok(checked) => checked,
            Err(error) => return Self::failed(ctx, input, &error).await,
        };
        if checked.failure_code.is_some() {
            return Ok(checked);
        }
        let write = ActivityOptions::with_start_to_close_timeout(WRITE_TIMEOUT)
            .heartbeat_timeout(WRITE_HEARTBEAT)
            .retry_policy(retries())
            .build();
        match ctx
            .execute_activity(StatementActivities::write_import, input, write)
            .await
        {
            Ok(written) => Ok(written),
            Err(error) => Self::failed(ctx, input, &error).await,
        }
    }
}

impl ImportStatementWorkflow {
    /// Records the failure of a step on the import, and ends the run with it.
    async fn failed(
        ctx: &mut WorkflowContext<Self>,
        input: ImportInput,
        error: &ActivityExecutionError,
    ) -> WorkflowResult<ImportOutcome> {
        let message = crate::failure::message(error);
        let finish = FinishImportInput {
            import: input,
            failure_code: Some(IMPORT_FAILED.to_owned()),
            failure_message: Some(message),
        };
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
            .retry_policy(RetryPolicy::default())
            .build();
        ctx.execute_activity(StatementActivities::finish_import, finish, options)
            .await?;
        Ok(ImportOutcome {
            failure_code: Some(IMPORT_FAILED.to_owned()),
            lines_total: 0,
            lines_matched: 0,
            lines_posted: 0,
        })
    }
}

fn retries() -> RetryPolicy {
    RetryPolicy::builder()
        .initial_interval(Duration::from_millis(200))
        .backoff_coefficient(2.0)
        .maximum_interval(Duration::from_secs(30))
        .maximum_attempts(ATTEMPTS)
        .build()
}
