//! A workflow that does nothing, started by the benchmark to measure the server's ceiling on
//! this machine, so transfer throughput can be read as a fraction of it.

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

#[workflow]
#[derive(Debug, Default)]
pub struct NoopWorkflow;

#[workflow_methods]
impl NoopWorkflow {
    #[run]
    pub async fn run(_ctx: &mut WorkflowContext<Self>, _input: ()) -> WorkflowResult<()> {
        Ok(())
    }
}
