//! A workflow that does nothing, started by the benchmark to measure the server's ceiling on
//! this machine, so transfer throughput can be read as a fraction of it. Given a status, it
//! upserts DjinnStatus as a transfer does, which shows what search attributes cost the server.

use crate::search_attributes::DJINN_STATUS;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

#[workflow]
#[derive(Debug, Default)]
pub struct NoopWorkflow;

#[workflow_methods]
impl NoopWorkflow {
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        upsert_status: Option<String>,
    ) -> WorkflowResult<()> {
        if let Some(status) = upsert_status {
            ctx.upsert_search_attributes([DJINN_STATUS.value_set(status)]);
        }
        Ok(())
    }
}
