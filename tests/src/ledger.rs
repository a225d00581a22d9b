//! Reading the ledger back, and putting it in the states tests need: a workflow started
//! without the API's checks, a ledger outage.

use crate::TestApp;
use anyhow::{Context, bail};
use djinn_domain::{IdempotencyKey, OperationId, TransferRequest, UserId, transfer_workflow_id};
use djinn_workflows::{TransferInput, TransferWorkflow};
use temporalio_client::WorkflowStartOptions;

impl TestApp {
    /// Every ledger invariant holds over the whole database (`djinn ledger verify`'s check:
    /// `djinn_store::verify`): balanced entries, balances that agree with their postings and
    /// floors, operations and entries that agree with each other.
    pub async fn assert_ledger_consistent(&self) -> anyhow::Result<()> {
        let violations = djinn_store::verify::ledger_violations(&self.db).await?;
        if !violations.is_empty() {
            let listed: Vec<String> = violations.iter().map(ToString::to_string).collect();
            bail!("the ledger is broken:\n{}", listed.join("\n"));
        }
        Ok(())
    }

    /// Starts a transfer's workflow directly, as the API would but without its checks, so that
    /// a test can hand the workflow what the API refuses or a ledger already moved; the request
    /// is registered first (unless it is one no API would register, or something is registered
    /// under the id already). Returns the workflow id.
    pub async fn start_transfer_workflow(
        &self,
        user: UserId,
        transfer_id: OperationId,
        key: &str,
        request: TransferRequest,
    ) -> anyhow::Result<String> {
        crate::ledger_steps::register_transfer(&self.db, user, transfer_id, &request).await?;
        self.start_unregistered_transfer_workflow(user, transfer_id, key, request)
            .await
    }

    /// Starts a transfer's workflow with whatever input it is given and registers nothing: what
    /// anyone who can start workflows in the namespace could do past the API.
    pub async fn start_unregistered_transfer_workflow(
        &self,
        user: UserId,
        transfer_id: OperationId,
        key: &str,
        request: TransferRequest,
    ) -> anyhow::Result<String> {
        let key = IdempotencyKey::parse(key)?;
        let workflow_id = transfer_workflow_id(user, &key);
        let input = TransferInput {
            transfer_id,
            user_id: user,
            idempotency_key: key,
            request,
            trace: None,
            approval_deadline_ms: None,
        };
        self.temporal
            .start_workflow(
                TransferWorkflow::run,
                input,
                WorkflowStartOptions::new(self.task_queue.clone(), workflow_id.clone()).build(),
            )
            .await?;
        Ok(workflow_id)
    }

    /// An outage of the ledger: until the returned transaction ends, nothing can write
    /// postings, so every ledger step waits for its lock timeout and fails.
    pub async fn lock_postings(
        &self,
    ) -> anyhow::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        let mut outage = self.db.begin().await?;
        sqlx::query("LOCK TABLE postings IN ACCESS EXCLUSIVE MODE")
            .execute(&mut *outage)
            .await?;
        Ok(outage)
    }

    /// (posted, pending debit) of an account, straight from the projection.
    pub async fn balance_minor(&self, account_global_id: &str) -> anyhow::Result<(i64, i64)> {
        let uuid = djinn_graphql::schema::ids::decode(account_global_id)
            .context("an account id")?
            .1;
        Ok(sqlx::query_as(
            "SELECT posted_minor, pending_debit_minor FROM account_balances WHERE account_id = $1",
        )
        .bind(uuid)
        .fetch_one(&self.db)
        .await?)
    }
}
