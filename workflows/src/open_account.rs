//! Opening an account: one local activity that writes the account, its balance row and the
//! opening transaction in a single database transaction.

use crate::contracts::{LedgerActivities, OpenAccountInput};
use crate::transfer::ledger_step_options;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

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
        ctx.execute_local_activity(LedgerActivities::open_account, input, ledger_step_options())
            .await?;
        Ok(())
    }
}
