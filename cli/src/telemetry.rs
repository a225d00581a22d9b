//! One subscriber for every role: pretty logs in a terminal, JSON lines elsewhere (or when
//! DJINN_LOG_FORMAT=json). Filter with RUST_LOG.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,temporalio_sdk_core=warn"));
    let json = std::env::var("DJINN_LOG_FORMAT")
        .map(|f| f == "json")
        .unwrap_or(!std::io::stderr().is_terminal());
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
