//! A workflow that does nothing, started by the benchmark to measure the server's ceiling on
//! this machine, so transfer throughput can be read as a fraction of it. It lives here, run by
//! the benchmark's own workers, so that no production worker registers it. Its input adds, one by
//! one, what a transfer costs Temporal besides the ledger: the DjinnStatus upsert, and local
//! activities that do nothing (one marker each in the history, and a workflow task held while
//! they run), so that the benchmark can tell Temporal's share of a transfer from the ledger's.

use djinn_workflows::search_attributes::DJINN_STATUS;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{LocalActivityOptions, WorkflowContext, WorkflowResult};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NoopInput {
    /// Upserted as DjinnStatus, as a transfer does when it settles.
    pub upsert_status: Option<String>,
    /// Local activities that do nothing, run one after the other (a transfer runs one).
    #[serde(default)]
    pub local_steps: u8,
    /// Ignored: bytes that give the input the size of a transfer's, so that the payloads the
    /// server stores weigh what a transfer's do.
    #[serde(default)]
    pub padding: String,
}

#[workflow]
#[derive(Debug, Default)]
pub struct NoopWorkflow;

#[workflow_methods]
impl NoopWorkflow {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: NoopInput) -> WorkflowResult<()> {
        for _ in 0..input.local_steps {
            ctx.execute_local_activity(
                NoopActivities::nothing,
                (),
                LocalActivityOptions::builder()
                    .start_to_close_timeout(Duration::from_secs(10))
                    .build(),
            )
            .await?;
        }
        if let Some(status) = input.upsert_status {
            ctx.upsert_search_attributes([DJINN_STATUS.value_set(status)]);
        }
        Ok(())
    }
}

/// The no-op's one activity, registered by the benchmark's workers beside the workflow.
#[derive(Debug)]
pub struct NoopActivities;

#[activities]
impl NoopActivities {
    #[activity(name = "noop.nothing")]
    pub async fn nothing(_ctx: ActivityContext, _input: ()) -> Result<(), ActivityError> {
        Ok(())
    }
}
