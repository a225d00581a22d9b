//! The Temporal activities over the ledger: thin adapters that call one idempotent step of
//! `djinn-ledger` and translate its error for the workflow; and the sweeper, which settles the
//! operations their workflows left pending. This is the only crate (besides the tests) that may
//! depend on the ledger's write steps.

pub mod activities;
pub mod chaos;
pub mod reconciliation;
pub mod recurring;
pub mod statements;
pub mod sweeper;

pub use activities::LedgerActivities;
pub use reconciliation::ReconciliationActivities;
pub use recurring::RecurringActivities;
pub use statements::StatementActivities;
