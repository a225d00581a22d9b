//! Djinn's Temporal workflows: the durable, deterministic sequence of every operation that moves
//! or records money.
//!
//! This crate depends on `djinn-domain` and the Temporal SDK only, so it cannot do IO by
//! accident. It must never import sqlx, tokio, reqwest, `std::time::SystemTime`, random number
//! generators or anything else that reads the world: time comes from the workflow context, ids
//! and randomness arrive in the input. Every side effect is an activity declared in
//! [`contracts`] and implemented in `djinn-activities`.

mod approval;
pub mod contracts;
mod failure;
mod import;
pub mod memo;
pub mod observe;
mod open_account;
mod reconciliation;
mod recurring;
mod scheduled;
pub mod search_attributes;
mod steps;
mod transfer;

pub use approval::APPROVALS;
pub use contracts::{
    Decision, ImportInput, ImportOutcome, NightlyInput, OpenAccountInput, ReconcileInput,
    ReconcileOutcome, RecurringRunInput, TransferInput, TransferOutcome, VoidTransferInput,
};
pub use djinn_domain::TransferStatus;
pub use import::{IMPORT_FAILED, ImportStatementWorkflow};
pub use open_account::OpenAccountWorkflow;
pub use reconciliation::{
    NIGHTLY_CONCURRENCY, NightlyReconciliationWorkflow, ReconciliationWorkflow,
    reconciliation_workflow_id,
};
pub use recurring::RecurringTransferWorkflow;
pub use transfer::TransferWorkflow;
