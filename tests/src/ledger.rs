//! Reading the ledger back, and putting it in the states tests need: a workflow started
//! without the API's checks, a ledger outage.

use crate::TestApp;
use anyhow::{Context, bail};
use djinn_domain::{IdempotencyKey, OperationId, TransferRequest, UserId, transfer_workflow_id};
use djinn_workflows::{TransferInput, TransferWorkflow};
use temporalio_client::WorkflowStartOptions;

impl TestApp {
    /// Every posting of every transaction balances, and every account's posted balance equals
    /// the sum of its posted postings: the ledger read back.
    pub async fn assert_ledger_consistent(&self) -> anyhow::Result<()> {
        let unbalanced: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT transaction_id, currency FROM postings GROUP BY 1, 2 HAVING sum(amount_minor) <> 0) t",
        )
        .fetch_one(&self.db)
        .await?;
        if unbalanced != 0 {
            bail!("{unbalanced} transactions have postings that do not sum to zero");
        }
        let drifted: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM account_balances b
              WHERE b.posted_minor <> coalesce((SELECT sum(p.amount_minor) FROM postings p JOIN transactions t ON t.id = p.transaction_id
                                                 WHERE p.account_id = b.account_id AND t.status = 'posted'), 0)
                 OR b.pending_debit_minor <> coalesce((SELECT -sum(p.amount_minor) FROM postings p JOIN transactions t ON t.id = p.transaction_id
                                                 WHERE p.account_id = b.account_id AND t.status = 'pending' AND p.amount_minor < 0), 0)",
        )
        .fetch_one(&self.db)
        .await?;
        if drifted != 0 {
            bail!("{drifted} balance rows disagree with their postings");
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
