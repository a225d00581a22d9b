//! All of Djinn's SQL that the API may run: the read models it serves, the operation registry
//! that makes requests idempotent, users, the per-user sessions under row-level security, the
//! connection pool and the embedded migrations.
//!
//! The ledger's write steps are not here: they live in `djinn-ledger`, which only
//! `djinn-activities` depends on, so a resolver cannot post (the crate map in ARCHITECTURE.md;
//! `tests/tests/layering.rs` checks the arrows). Every function here either reads as one user
//! or registers a request; none moves money.

pub mod accounts;
pub mod approvals;
pub mod changes;
pub mod db;
pub mod entries;
mod error;
pub mod imports;
pub mod openings;
pub mod operations;
pub mod reconciliation;
pub mod recurring;
mod registration;
pub mod reversals;
pub mod session;
pub mod sql;
pub mod sweeping;
pub mod users;
pub mod verify;

pub use djinn_domain::RejectionCode;
pub use error::{LedgerRejection, StoreError};
/// The pool type every caller holds, so that crates above the store need no sqlx of their own.
pub use sqlx::PgPool;

/// A currency read back from a row: the schema's CHECK admits only codes, so one that does not
/// parse is a broken invariant, not a user's error.
pub(crate) fn stored_currency(code: &str) -> Result<djinn_domain::Currency, StoreError> {
    djinn_domain::Currency::parse(code).map_err(|e| StoreError::Invariant(e.to_string()))
}

/// The largest page any list returns, whatever the client asks for.
pub const PAGE_SIZE_MAX: i64 = 100;
