//! Fault injection for the crash-recovery tests: with `DJINN_CHAOS_ABORT_AFTER=<activity>` the
//! process running it (a worker, or the api, which runs the workflows it starts) aborts right
//! after that activity committed and before Temporal learns of it, the worst moment for
//! idempotency. It first waits a moment, long enough for the spans already ended to be exported
//! (the traces' crash test follows a transfer across the crash). Never set in production; the
//! variable is read once.

use std::sync::OnceLock;
use std::time::Duration;

pub const CHAOS_ENV: &str = "DJINN_CHAOS_ABORT_AFTER";
/// Longer than the tests' span export interval (OTEL_BSP_SCHEDULE_DELAY=100).
const EXPORT_GRACE: Duration = Duration::from_millis(500);

fn configured() -> Option<&'static str> {
    static ABORT_AFTER: OnceLock<Option<String>> = OnceLock::new();
    ABORT_AFTER
        .get_or_init(|| std::env::var(CHAOS_ENV).ok().filter(|v| !v.is_empty()))
        .as_deref()
}

/// Aborts the process when chaos is configured for `step`.
pub fn abort_after(step: &str) {
    if configured() == Some(step) {
        tracing::error!(step, "chaos: aborting the process after a committed step");
        std::thread::sleep(EXPORT_GRACE);
        std::process::abort();
    }
}
