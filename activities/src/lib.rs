//! Every side effect of Djinn: the ledger and read models in PostgreSQL, and the Temporal
//! activities that write them.
//!
//! The `store` modules are plain async functions over a `PgPool`; the API calls the read side and
//! the operation registry, and the activities call the ledger writes. Every ledger write is
//! idempotent (a unique key per effect, checked inside the same database transaction), so a
//! replayed or retried activity changes nothing the second time.

pub mod activities;
pub mod chaos;
pub mod codec;
pub mod db;
mod error;
pub mod store;
pub mod temporal;

pub use activities::LedgerActivities;
pub use djinn_domain::RejectionCode;
pub use error::{LedgerRejection, StoreError};
