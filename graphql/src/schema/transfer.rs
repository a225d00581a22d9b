//! Transfers between the user's own accounts.

use super::account::Account;
use super::ids::{self, NodeType};
use super::loaders::{AccountLoader, ReversalLoader, TransferLoader};
use super::money::{Money, MoneyInput};
use super::user_error::UserError;
use super::{internal, state};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use djinn_domain::{AccountId, RejectionCode};
use djinn_store::operations::TransferView;
use djinn_workflows::TransferWorkflow;
use temporalio_client::WorkflowQueryOptions;

// The GraphQL face of `djinn_domain::TransferStatus`, the one status type: a checked mirror
// (`remote` derives both conversions with exhaustive matches), so a status added there and not
// here does not compile. A plain comment, so that the contract's SDL stays as it was.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "djinn_domain::TransferStatus")]
pub enum TransferStatus {
    Pending,
    AwaitingApproval,
    Posted,
    Voided,
}

#[derive(Clone, Debug)]
pub struct Transfer(pub TransferView);

#[Object]
impl Transfer {
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::Transfer, self.0.operation.id.as_uuid())
    }
    /// From the ledger projection, updated in the same database transaction as the ledger.
    async fn status(&self) -> TransferStatus {
        self.0.operation.status.transfer_status().into()
    }
    async fn amount(&self) -> Money {
        self.0.amount.into()
    }
    #[graphql(name = "fromAccount")]
    async fn source_account(&self, ctx: &Context<'_>) -> Result<Account> {
        account(ctx, self.0.from).await
    }
    #[graphql(name = "toAccount")]
    async fn destination_account(&self, ctx: &Context<'_>) -> Result<Account> {
        account(ctx, self.0.to).await
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The Temporal workflow id, for finding the transfer in the Temporal UI.
    async fn workflow_id(&self) -> &str {
        &self.0.operation.workflow_id
    }
    async fn idempotency_key(&self) -> &str {
        &self.0.operation.idempotency_key
    }
    /// Why the transfer was voided, as a stable code such as INSUFFICIENT_FUNDS.
    async fn failure_code(&self) -> Option<&str> {
        self.0.operation.failure_code.as_deref()
    }
    /// What the failure code means, in words that are the same for every transfer voided with
    /// it. The words a failure was recorded with (an internal error's, perhaps) are for staff.
    async fn failure_message(&self) -> Option<&str> {
        let code = self.0.operation.failure_code.as_deref()?;
        Some(RejectionCode::parse(code).map_or(
            "the transfer could not be completed",
            RejectionCode::message,
        ))
    }
    /// Why a VOIDED transfer was voided: its failure code (CANCELLED, APPROVAL_EXPIRED,
    /// INSUFFICIENT_FUNDS, ...).
    async fn void_reason(&self) -> Option<&str> {
        if self.0.operation.status.transfer_status() != djinn_domain::TransferStatus::Voided {
            return None;
        }
        self.0.operation.failure_code.as_deref()
    }
    /// The reason given when the transfer was cancelled.
    async fn cancel_reason(&self) -> Option<&str> {
        let code = self.0.operation.failure_code.as_deref()?;
        (code == RejectionCode::Cancelled.as_str())
            .then_some(self.0.operation.failure_message.as_deref())
            .flatten()
    }
    /// Until when a transfer at or over its owner's approval threshold waits for approval;
    /// null for a transfer that waits for none.
    async fn approval_deadline(&self) -> Option<DateTime<Utc>> {
        self.0.approval_deadline
    }
    /// When the owner's approval took effect (the transfer was posted).
    async fn approved_at(&self) -> Option<DateTime<Utc>> {
        self.0.approved_at
    }
    /// The transfer that reversed this one (it stays POSTED: the past is never edited).
    async fn reversed_by(&self, ctx: &Context<'_>) -> Result<Option<Transfer>> {
        Ok(ctx
            .data::<DataLoader<ReversalLoader>>()?
            .load_one(self.0.operation.id)
            .await
            .map_err(internal)?
            .map(Transfer))
    }
    /// The transfer this one reverses, when it is a reversal.
    async fn reverses(&self, ctx: &Context<'_>) -> Result<Option<Transfer>> {
        let Some(original) = self.0.reverses else {
            return Ok(None);
        };
        Ok(ctx
            .data::<DataLoader<TransferLoader>>()?
            .load_one(original)
            .await
            .map_err(internal)?
            .map(Transfer))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.operation.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.operation.updated_at
    }
    /// The status as the running workflow reports it (a Temporal query); null when the
    /// workflow cannot be asked right now. Costs a round trip: ask only when needed, of one
    /// transfer per request (it is priced so).
    #[graphql(complexity = "crate::limits::WORKFLOW_STATUS_COMPLEXITY")]
    async fn workflow_status(&self, ctx: &Context<'_>) -> Option<TransferStatus> {
        let (app, _) = state(ctx).ok()?;
        let handle = app
            .temporal
            .get_workflow_handle::<TransferWorkflow>(self.0.operation.workflow_id.clone());
        match handle
            .query(
                TransferWorkflow::status,
                (),
                WorkflowQueryOptions::default(),
            )
            .await
        {
            Ok(status) => Some(status.into()),
            Err(error) => {
                tracing::warn!(%error, workflow_id = %self.0.operation.workflow_id, "status query failed");
                None
            }
        }
    }
}

/// One of the transfer's accounts, read with every other account the request's resolvers ask
/// for at the same level (`loaders`).
async fn account(ctx: &Context<'_>, id: AccountId) -> Result<Account> {
    ctx.data::<DataLoader<AccountLoader>>()?
        .load_one(id)
        .await
        .map_err(internal)?
        .map(Account)
        .ok_or_else(|| internal("a transfer's account is missing"))
}

#[derive(InputObject, Clone, Debug)]
pub struct CreateTransferInput {
    /// The same key with the same input returns the same transfer; with a different input it is
    /// refused with IDEMPOTENCY_KEY_REUSED.
    pub idempotency_key: String,
    pub from_account_id: ID,
    pub to_account_id: ID,
    pub amount: MoneyInput,
    pub description: Option<String>,
}

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct CreateTransferPayload {
    pub transfer: Option<Transfer>,
    pub user_errors: Vec<UserError>,
}
