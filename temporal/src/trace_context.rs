//! W3C trace context across the workflow boundary. A trace started by a GraphQL request (or
//! continued from the client's `traceparent`) travels into the workflow as a `traceparent`
//! string in the workflow's input (`TransferInput::trace`), never in a search attribute, and
//! the ledger step's span, in whichever process runs it, takes it as its parent. Without an
//! exporter configured (OTEL_EXPORTER_OTLP_ENDPOINT) spans have no trace ids and nothing is
//! carried.

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::collections::HashMap;
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
