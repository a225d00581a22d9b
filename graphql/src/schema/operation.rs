//! Operations: one per workflow the API started, served from Postgres.

use super::ids::{self, NodeType};
use super::internal;
use super::loaders::TransferLoader;
use super::transfer::Transfer;
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, ID, Object, Result};
use chrono::{DateTime, Utc};
use djinn_store::operations::{
    OperationKind as StoreKind, OperationStatus as StoreStatus, OperationView,
};

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum OperationKind {
    Transfer,
    OpenAccount,
}

impl From<OperationKind> for StoreKind {
    fn from(kind: OperationKind) -> Self {
        match kind {
            OperationKind::Transfer => StoreKind::Transfer,
            OperationKind::OpenAccount => StoreKind::OpenAccount,
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum OperationStatus {
    Pending,
    AwaitingApproval,
    Posted,
    Voided,
    Completed,
    Failed,
}

#[derive(Clone, Debug)]
pub struct Operation(pub OperationView);

#[Object]
impl Operation {
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::Operation, self.0.id.as_uuid())
    }
    async fn kind(&self) -> OperationKind {
        match self.0.kind {
            StoreKind::Transfer => OperationKind::Transfer,
            StoreKind::OpenAccount => OperationKind::OpenAccount,
        }
    }
    async fn status(&self) -> OperationStatus {
        match self.0.status {
            StoreStatus::Pending => OperationStatus::Pending,
            StoreStatus::AwaitingApproval => OperationStatus::AwaitingApproval,
            StoreStatus::Posted => OperationStatus::Posted,
            StoreStatus::Voided => OperationStatus::Voided,
            StoreStatus::Completed => OperationStatus::Completed,
            StoreStatus::Failed => OperationStatus::Failed,
        }
    }
    async fn workflow_id(&self) -> &str {
        &self.0.workflow_id
    }
    async fn failure_code(&self) -> Option<&str> {
        self.0.failure_code.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The transfer this operation carries out, for transfer operations.
    async fn transfer(&self, ctx: &Context<'_>) -> Result<Option<Transfer>> {
        if self.0.kind != StoreKind::Transfer {
            return Ok(None);
        }
        Ok(ctx
            .data::<DataLoader<TransferLoader>>()?
            .load_one(self.0.id)
            .await
            .map_err(internal)?
            .map(Transfer))
    }
}
