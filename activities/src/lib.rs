//! The Temporal activities over the ledger: thin adapters that call one idempotent step of
//! `djinn-ledger` and translate its error for the workflow. This is the only crate (besides the
//! tests) that may depend on the ledger's write steps.

pub mod activities;
pub mod chaos;

pub use activities::LedgerActivities;
