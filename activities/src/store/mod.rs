//! SQL lives here and nowhere else: the read models the API serves, the operation registry that
//! makes requests idempotent, and the ledger writes the activities perform.

pub mod accounts;
pub mod ledger;
pub mod operations;
pub mod session;
pub mod users;

/// The largest page any list returns, whatever the client asks for.
pub const PAGE_SIZE_MAX: i64 = 100;
