//! The GraphQL API: a thin skin over workflows and projections.
//!
//! Resolvers parse input into domain types, call one thing (register and start a workflow,
//! query a workflow, or read a projection from `djinn_store`) and map the error. There is no
//! SQL here: this crate depends on neither sqlx nor `djinn-ledger`, so it cannot post.
//! User-fixable problems are `userErrors` with stable codes; top-level errors are for malformed
//! requests and server faults, and never carry internals.

pub mod auth;
mod codec_server;
mod commands;
mod http_policy;
pub mod limits;
mod live;
mod ops_guard;
mod rate_limit;
mod request_id;
mod request_metrics;
pub mod schema;
mod server;
mod upload;
mod user_cache;

pub use auth::{EmulatorTokenVerifier, FIREBASE_JWKS_URL, FirebaseVerifier, TokenVerifier};
pub use limits::REQUEST_BODY_MAX_BYTES;
pub use server::{ApiConfig, AppState, Application, DEFAULT_APPROVAL_TIMEOUT};
pub use upload::DEFAULT_UPLOAD_MAX_BYTES;
