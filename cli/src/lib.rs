//! The `djinn` binary's roles as a library, so tests can run the real worker and API in-process
//! with their own settings. `main.rs` only parses the command line and calls in here.

pub mod api;
pub mod backup;
pub mod config;
pub mod error_reports;
pub mod import;
pub mod ledger;
pub mod metrics;
pub mod migrate;
pub mod probes;
pub mod reconcile;
pub mod telemetry;
pub mod tracing_export;
pub mod validate;
pub mod worker;
