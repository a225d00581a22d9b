//! The ledger's write steps, and nothing else. Each function is one database transaction that
//! either does all of its effect or none, and each is idempotent: it first claims a unique key
//! (the transaction id, or a status transition from an expected state), so a replay finds the
//! effect done and changes nothing.
//!
//! This crate is reachable only from `djinn-activities`: the API depends on `djinn-store`,
//! which reads and registers but never moves money, so a resolver that posts does not compile
//! (`tests/tests/layering.rs` keeps the arrows so).
//!
//! Balance rows are always locked in account-id order, so concurrent transfers between the same
//! accounts in opposite directions cannot deadlock.
//!
//! A transfer's ledger steps are one statement each: a call of a PostgreSQL function outside
//! any explicit transaction, so PostgreSQL commits it before it answers. A step is one round
//! trip, and the balance rows' locks are held for that statement alone. A transfer that has
//! nothing to wait for is reserved and posted by one such call
//! (migrations/..._post_at_once_when_nothing_waits.sql); one that waits (an approval) is
//! reserved, then posted, by one call each (..._ledger_steps_in_one_round_trip.sql); a void is
//! one call too (..._void_in_one_round_trip.sql).
//! The functions act as the application role for the user they are given, and refuse by
//! raising (SQLSTATE `DJ001`), which undoes what they wrote. This crate still builds the
//! postings, checks that they balance before the call, and turns the functions' outcomes and
//! refusals into rejections.

pub mod import;
mod opening;
mod outcome;
mod postings;
mod transfer;
mod void;

pub use djinn_store::{LedgerRejection, RejectionCode, StoreError};
pub use opening::{NewAccount, open_account};
pub use transfer::{post_transfer, reserve_and_post_transfer, reserve_transfer};
pub use void::void_transfer;

/// What a ledger write found: it did the work now, or the work was already done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Now,
    Already,
}
