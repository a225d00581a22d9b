//! One subscriber for every role: JSON lines, one per event, with the span it happened in
//! (a request's `request{request_id, user_id, operation}`); human-readable lines only in
//! development on a terminal, or whenever DJINN_LOG_FORMAT=pretty. Filter with RUST_LOG.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,temporalio_sdk_core=warn"));
    let development = std::env::var("DJINN_ENV").is_ok_and(|env| env == "development");
    let json = std::env::var("DJINN_LOG_FORMAT")
        .map(|f| f != "pretty")
        .unwrap_or(!(development && std::io::stderr().is_terminal()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
