//! One subscriber for every role: JSON lines, one per event, with the span it happened in
//! (a request's `request{request_id, user_id, operation}`); human-readable lines only in
//! development on a terminal, or whenever DJINN_LOG_FORMAT=pretty. RUST_LOG filters the lines
//! only. With OTEL_EXPORTER_OTLP_ENDPOINT set, Djinn's spans are exported as traces
//! (`crate::tracing_export`); with SENTRY_DSN set, ERROR events are reported
//! (`crate::error_reports`).

use std::io::IsTerminal;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,temporalio_sdk_core=warn"));
    let development = std::env::var("DJINN_ENV").is_ok_and(|env| env == "development");
    let json = std::env::var("DJINN_LOG_FORMAT")
        .map(|f| f != "pretty")
        .unwrap_or(!(development && std::io::stderr().is_terminal()));
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    // RUST_LOG filters the lines only: the traces take Djinn's spans whatever it says.
    let lines = if json {
        lines.json().with_filter(filter).boxed()
    } else {
        lines.with_filter(filter).boxed()
    };
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = tracing_subscriber::registry()
        .with(lines)
        .with(crate::tracing_export::layer())
        .with(crate::error_reports::layer())
        .try_init();
}
