//! What a workflow tells the process that executes it, outside its history: "this run is being
//! executed here, not replayed". The process (`djinn_temporal::trace_context`) answers with a
//! guard held for as long as the run executes, which is how the workflow task gets a span of
//! its own in the trace of the request that started it, in whichever process runs it.
//!
//! The hook is a plain function installed once per process, so this crate stays free of
//! tracing and IO. It is called only when the run is not replaying: a replay re-executes code
//! whose spans were already emitted, and emits nothing again. It adds no command, so it is
//! invisible to the history and to determinism. Without a hook (the replay tests, tools),
//! nothing happens.

use djinn_domain::{OperationId, UserId};
use std::any::Any;
use std::sync::OnceLock;

/// A run that starts executing (not replaying) in this process.
#[derive(Debug)]
pub struct RunExecuting<'a> {
    /// Which workflow, as a short label ("transfer").
    pub workflow: &'static str,
    pub workflow_id: &'a str,
    pub run_id: &'a str,
    pub operation_id: OperationId,
    pub user_id: UserId,
    /// The W3C `traceparent` the run's input carries, if any.
    pub trace: Option<&'a str>,
}

/// Made when a run starts executing; what it returns is dropped when the run stops executing
/// here (it finished, or the worker evicted it).
pub type Observer = fn(&RunExecuting<'_>) -> Box<dyn Any + Send>;

static OBSERVER: OnceLock<Observer> = OnceLock::new();

/// Installs the process's observer; a second call is ignored (the first one stays).
pub fn install(observer: Observer) {
    let _ = OBSERVER.set(observer);
}

/// Tells the observer that `run` executes here, unless it is replaying.
pub(crate) fn executing(replaying: bool, run: &RunExecuting<'_>) -> Option<Box<dyn Any + Send>> {
    if replaying {
        return None;
    }
    OBSERVER.get().map(|observer| observer(run))
}
