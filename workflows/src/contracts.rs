//! The activities workflows may call: their names, inputs and outputs. The implementations live
//! in `djinn-activities`, which refers to the markers here, so a mismatch in name or type is a
//! compile error rather than a failed workflow task.

use djinn_domain::{
    AccountId, AccountKind, AccountName, IdempotencyKey, Money, OperationId, ReconciliationRunId,
    RecurringTransferId, RejectionCode, StatementImportId, TransferRequest, TransferStatus, UserId,
};
use serde::{Deserialize, Serialize};
use temporalio_common::ActivityError;

/// Everything a transfer workflow needs, decided before it started (ids included, so the
/// workflow never generates one).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TransferInput {
    pub transfer_id: OperationId,
    pub user_id: UserId,
    pub idempotency_key: IdempotencyKey,
    pub request: TransferRequest,
    /// The W3C `traceparent` of the request that started the transfer, so that the ledger
    /// step's span joins its trace in whichever process runs it. Absent when nothing is traced,
    /// and in every input recorded before it existed (so older histories replay unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// Set when the transfer waits for its owner's approval: until when, in milliseconds since
    /// the Unix epoch (decided at registration). Absent in every input recorded before
    /// approvals, which take the path they took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_deadline_ms: Option<i64>,
}

/// An update's input: who decides about a transfer awaiting approval, and why (a cancel's
/// reason). The validator refuses a decision of anyone but the transfer's owner.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Decision {
    pub user_id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Names a reserved transfer and its owner (every ledger write acts for one user).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct PostTransferInput {
    pub transfer_id: OperationId,
    pub user_id: UserId,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VoidTransferInput {
    pub transfer_id: OperationId,
    pub user_id: UserId,
    pub idempotency_key: IdempotencyKey,
    /// Why the transfer is voided, serialized as its stable code (INSUFFICIENT_FUNDS, ...).
    pub code: RejectionCode,
    pub message: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpenAccountInput {
    pub operation_id: OperationId,
    pub account_id: AccountId,
    pub user_id: UserId,
    pub name: AccountName,
    pub kind: AccountKind,
    /// Zero when the account opens empty; its currency is the account's currency.
    pub opening_balance: Money,
    /// How far below zero the account may go, in its currency; `None` (also what runs started
    /// before this field existed carry, as serde reads a missing `Option`): not at all.
    pub overdraft_limit: Option<Money>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferOutcome {
    pub status: TransferStatus,
    /// Why the transfer was voided, serialized as its stable code.
    pub failure_code: Option<RejectionCode>,
}

/// A recurring transfer's schedule starts its run with this, the same for every run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecurringRunInput {
    pub rule_id: RecurringTransferId,
    pub user_id: UserId,
    /// How long a run's transfer at or over the approval threshold waits (decided when the
    /// rule was made, as the api's DJINN_APPROVAL_TIMEOUT said).
    pub approval_timeout_ms: u64,
}

/// A run's registration: the rule, and when its schedule meant it to run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegisterRunInput {
    pub run: RecurringRunInput,
    /// The schedule's nominal time (milliseconds since the Unix epoch).
    pub scheduled_at_ms: i64,
}

/// The recurring transfers' activity. Its body is never run: the worker registers it.
#[derive(Debug)]
pub struct RecurringActivities;

#[temporalio_macros::activity_definitions]
impl RecurringActivities {
    /// Registers the transfer of the run scheduled at `scheduled_at_ms` (or finds it): its
    /// input, or none when the rule does not run then. A refused transfer (no funds) is kept on
    /// the rule and answers none.
    #[activity(name = "recurring.register_run")]
    pub fn register_run(input: RegisterRunInput) -> Result<Option<TransferInput>, ActivityError> {
        unimplemented!()
    }
}

/// A statement import: its id and owner. The file is in the database, never in the history.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct ImportInput {
    pub import_id: StatementImportId,
    pub user_id: UserId,
}

/// How an import, or a step of it, ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportOutcome {
    /// Why the file was refused (MALFORMED_STATEMENT, STATEMENT_UNBALANCED, ...), if it was.
    pub failure_code: Option<String>,
    pub lines_total: u32,
    pub lines_matched: u32,
    pub lines_posted: u32,
}

/// An import's end, recorded on it: completed, or failed with a code and a message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FinishImportInput {
    pub import: ImportInput,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
}

/// The statement import's activities. Bodies are never run: the worker registers them.
#[derive(Debug)]
pub struct StatementActivities;

#[temporalio_macros::activity_definitions]
impl StatementActivities {
    /// Reads the whole file (nothing is written): a malformed, unbalanced or foreign-currency
    /// file ends the import FAILED with its code; otherwise the import learns its line count
    /// and the balances the file states.
    #[activity(name = "statements.check_import")]
    pub fn check_import(input: ImportInput) -> Result<ImportOutcome, ActivityError> {
        unimplemented!()
    }

    /// Writes the lines in bounded batches, one database transaction each, from the first
    /// batch not yet written, heartbeating its progress; then ends the import COMPLETED.
    #[activity(name = "statements.write_import")]
    pub fn write_import(input: ImportInput) -> Result<ImportOutcome, ActivityError> {
        unimplemented!()
    }

    /// Records the import's end (a failure the other steps could not record themselves).
    #[activity(name = "statements.finish_import")]
    pub fn finish_import(input: FinishImportInput) -> Result<(), ActivityError> {
        unimplemented!()
    }
}

/// A reconciliation run: its id and owner (the account and period are registered with it).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct ReconcileInput {
    pub run_id: ReconciliationRunId,
    pub user_id: UserId,
}

/// The nightly schedule's action input, the same every night.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct NightlyInput {
    /// How many accounts are reconciled at once.
    pub concurrency: u32,
}

/// The nightly reconciliation's plan: the runs registered for the scheduled day.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NightlyPlanInput {
    /// The schedule's nominal time (milliseconds since the Unix epoch).
    pub scheduled_at_ms: i64,
}

/// What a reconciliation found, in counts (the items are in the database).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileOutcome {
    pub matched: u32,
    pub missing_from_ledger: u32,
    pub unexpected_in_ledger: u32,
    pub failure: Option<String>,
}

/// The reconciliation's activities. Bodies are never run: the worker registers them.
#[derive(Debug)]
pub struct ReconciliationActivities;

#[temporalio_macros::activity_definitions]
impl ReconciliationActivities {
    /// Compares the run's statement lines with the account's ledger entries in one pass of
    /// the database, records the differences and ends the run COMPLETED.
    #[activity(name = "reconciliation.reconcile")]
    pub fn reconcile(input: ReconcileInput) -> Result<ReconcileOutcome, ActivityError> {
        unimplemented!()
    }

    /// Ends a run FAILED with the message.
    #[activity(name = "reconciliation.fail")]
    pub fn fail(input: (ReconcileInput, String)) -> Result<(), ActivityError> {
        unimplemented!()
    }

    /// Registers (once per day and account) a run for every account with statements, over
    /// the days its statements cover: the nightly schedule's fan-out.
    #[activity(name = "reconciliation.plan_nightly")]
    pub fn plan_nightly(input: NightlyPlanInput) -> Result<Vec<ReconcileInput>, ActivityError> {
        unimplemented!()
    }
}

/// The ledger activities. Bodies are never run: the worker registers the implementations.
#[derive(Debug)]
pub struct LedgerActivities;

#[temporalio_macros::activity_definitions]
impl LedgerActivities {
    /// Checks the accounts and holds the amount on the source as a pending transaction.
    #[activity(name = "ledger.reserve_transfer")]
    pub fn reserve_transfer(input: TransferInput) -> Result<(), ActivityError> {
        unimplemented!()
    }

    /// Checks the accounts and moves the amount at once, the entry written posted: for a
    /// transfer that has nothing to wait for between reserving and posting.
    #[activity(name = "ledger.reserve_and_post_transfer")]
    pub fn reserve_and_post_transfer(input: TransferInput) -> Result<(), ActivityError> {
        unimplemented!()
    }

    /// Turns a reserved transfer into posted balances.
    #[activity(name = "ledger.post_transfer")]
    pub fn post_transfer(input: PostTransferInput) -> Result<(), ActivityError> {
        unimplemented!()
    }

    /// Releases a reserved transfer (if it was reserved) and records why it was voided; refuses
    /// as TRANSFER_POSTED when the transfer was posted.
    #[activity(name = "ledger.void_transfer")]
    pub fn void_transfer(input: VoidTransferInput) -> Result<(), ActivityError> {
        unimplemented!()
    }

    /// Opens an account and posts its opening balance against the user's equity account.
    #[activity(name = "ledger.open_account")]
    pub fn open_account(input: OpenAccountInput) -> Result<(), ActivityError> {
        unimplemented!()
    }
}

/// The generated marker types, named so that the implementing crate can point at them.
pub mod markers {
    pub use super::ledger_activities::*;
    pub use super::reconciliation_activities::*;
    pub use super::recurring_activities::RegisterRun;
    pub use super::statement_activities::*;
}
