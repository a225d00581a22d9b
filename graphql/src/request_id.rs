//! Every request has an id: the client's `x-request-id` when it sends a sane one, a fresh
//! UUIDv7 otherwise, returned in the answer's `x-request-id`. Every log line of the request is
//! written inside its span, `request{request_id, user_id, operation, trace_id, span_id}`: the GraphQL handler
//! records the user's internal id once it is known, the metrics extension the operation. No
//! amount, name, description or token is ever a field of it. With traces exported, it is the
//! trace's root span, or a child of the client's `traceparent`.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The longest client request id kept; a longer or stranger one is replaced.
pub const REQUEST_ID_MAX: usize = 64;

/// The client's id when it is short and plain (letters, digits, `-`, `_`, `.`), else a new one.
fn request_id(request: &Request) -> String {
    request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= REQUEST_ID_MAX
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

pub async fn with_request_id(request: Request, next: Next) -> Response {
    let id = request_id(&request);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        user_id = tracing::field::Empty,
        operation = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    // A client's W3C traceparent is continued; otherwise the request starts a trace.
    let traceparent = request
        .headers()
        .get("traceparent")
        .and_then(|value| value.to_str().ok());
    djinn_temporal::trace_context::continue_trace(&span, traceparent);
    djinn_temporal::trace_context::record_ids(&span);
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    response
}
