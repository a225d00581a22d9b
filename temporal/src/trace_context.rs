//! W3C trace context across the workflow boundary. A trace started by a GraphQL request (or
//! continued from the client's `traceparent`) travels into the workflow as a `traceparent`
//! string in the workflow's input (`TransferInput::trace`), never in a search attribute, and
//! the run's span, `workflow_task`, in whichever process executes it, takes it as its parent
//! (see `djinn_workflows::observe`). A ledger step runs in the process and while the task of its
//! run: its span is the child of the run's span, found by run id, or of the input's context when
//! the run is not executing here. Without an exporter configured (OTEL_EXPORTER_OTLP_ENDPOINT)
//! spans have no trace ids and nothing is carried.

use djinn_workflows::observe::RunExecuting;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::any::Any;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};
use tracing_opentelemetry::OpenTelemetrySpanExt;

const TRACEPARENT: &str = "traceparent";

/// The current span's context as a `traceparent`, when it belongs to a sampled trace.
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Makes `span` a child of the span `traceparent` names (a malformed one is ignored).
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// Records the trace's and the span's ids as fields `trace_id` and `span_id` of `span` (declared
/// empty when it was made), so that every log line written inside it joins its trace. Nothing
/// when traces are not exported.
pub fn record_ids(span: &tracing::Span) {
    let context = span.context();
    let ids = context.span().span_context().clone();
    if ids.is_valid() {
        span.record("trace_id", ids.trace_id().to_string());
        span.record("span_id", ids.span_id().to_string());
    }
}

/// The `traceparent` of each run executing in this process, by run id: the parent of its steps.
static EXECUTING: LazyLock<Mutex<HashMap<String, String>>> = LazyLock::new(Default::default);

/// The span of a run executing here, and its entry among [`EXECUTING`] until it is dropped.
struct ExecutingRun {
    run_id: String,
    _span: tracing::Span,
}

impl Drop for ExecutingRun {
    fn drop(&mut self) {
        EXECUTING
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.run_id);
    }
}

/// The process's [`djinn_workflows::observe::Observer`]: opens the run's `workflow_task` span as
/// the child of the trace its input carries. Installed by every process that runs workflows.
pub fn observe_run(run: &RunExecuting<'_>) -> Box<dyn Any + Send> {
    let span = tracing::info_span!(
        "workflow_task",
        workflow = run.workflow,
        workflow_id = run.workflow_id,
        run_id = run.run_id,
        operation_id = %run.operation_id,
        user_id = %run.user_id,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    continue_trace(&span, run.trace);
    record_ids(&span);
    if let Some(traceparent) = span.in_scope(current_traceparent) {
        EXECUTING
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(run.run_id.to_owned(), traceparent);
    }
    Box::new(ExecutingRun {
        run_id: run.run_id.to_owned(),
        _span: span,
    })
}

/// The parent of a step of the run `run_id`: the run's span when it executes here, else the
/// `traceparent` its input carried.
pub fn step_parent(run_id: Option<&str>, carried: Option<&str>) -> Option<String> {
    let executing = run_id.and_then(|run_id| {
        EXECUTING
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(run_id)
            .cloned()
    });
    executing.or_else(|| carried.map(str::to_owned))
}
