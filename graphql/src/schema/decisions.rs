//! The inputs and payloads of the mutations that decide about a transfer after it was made, or
//! set the terms that make one wait: `setApprovalThreshold`, `approveTransfer`,
//! `cancelTransfer`, `reverseTransfer`.

use super::money::MoneyInput;
use super::transfer::Transfer;
use super::user_error::UserError;
use async_graphql::{ID, InputObject, SimpleObject};

#[derive(InputObject, Clone, Debug)]
pub struct SetApprovalThresholdInput {
    /// Transfers at or over this amount, in its currency, wait for the owner's approval. Null
    /// clears the threshold in `currency`, or in every currency when that is null too.
    pub amount: Option<MoneyInput>,
    /// The currency whose threshold a null amount clears.
    pub currency: Option<String>,
}

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct SetApprovalThresholdPayload {
    pub user_errors: Vec<UserError>,
}

#[derive(InputObject, Clone, Debug)]
pub struct ApproveTransferInput {
    pub transfer_id: ID,
}

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct ApproveTransferPayload {
    pub transfer: Option<Transfer>,
    pub user_errors: Vec<UserError>,
}

#[derive(InputObject, Clone, Debug)]
pub struct CancelTransferInput {
    pub transfer_id: ID,
    /// Kept with the transfer, and shown as its `cancelReason`.
    pub reason: Option<String>,
}

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct CancelTransferPayload {
    pub transfer: Option<Transfer>,
    pub user_errors: Vec<UserError>,
}

#[derive(InputObject, Clone, Debug)]
pub struct ReverseTransferInput {
    /// A POSTED transfer; it stays POSTED and gains `reversedBy`.
    pub transfer_id: ID,
    /// Kept as the reversal's description.
    pub reason: Option<String>,
    /// The same key with the same input returns the same reversal.
    pub idempotency_key: String,
}

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct ReverseTransferPayload {
    /// The reversal: a transfer the other way, PENDING, then POSTED (or VOIDED with a code).
    pub transfer: Option<Transfer>,
    pub user_errors: Vec<UserError>,
}
