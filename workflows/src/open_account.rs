//! Opening an account: one local activity that writes the account, its balance row and the
//! opening transaction in a single database transaction.
//!
//! The local attempt covers the time a client waits for the answer. A database that stays
//! unreachable past that does not fail the opening: it continues as a regular activity that
//! retries (idempotently: the account id is the claim) until the database is back, as posting
//! and voiding a transfer do, so the operation ends completed rather than pending for ever.

use crate::contracts::{LedgerActivities, OpenAccountInput};
use crate::steps::local_then_regular;
use std::time::Duration;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

/// How long the opening runs as a local activity before it continues as a regular one: a little
/// longer than the API waits for it (8 s), so an answer the client waits for comes from the
/// fast path.
const OPEN_LOCAL_DEADLINE: Duration = Duration::from_secs(10);

#[workflow]
#[derive(Debug, Default)]
pub struct OpenAccountWorkflow;

#[workflow_methods]
impl OpenAccountWorkflow {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: OpenAccountInput,
    ) -> WorkflowResult<()> {
        local_then_regular(
            ctx,
            || LedgerActivities::open_account,
            input,
            OPEN_LOCAL_DEADLINE,
        )
        .await?;
        Ok(())
    }
}
