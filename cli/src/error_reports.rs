//! Error reports to Sentry, when SENTRY_DSN is set (crate `sentry`): panics (its panic
//! integration), and every event logged at ERROR, which includes each fault a client sees as
//! "internal error" (`djinn_graphql::schema::internal` logs it once) and each ledger step that
//! failed for a reason other than a rejection.
//!
//! A report carries the release (`djinn@<version>+<commit>`), the environment (DJINN_ENV) and
//! the trace: Sentry's trace context is set to the OpenTelemetry trace and span the error
//! happened in (tags `trace_id`, `span_id` too), so a report opens the same trace as the logs
//! and the tracing backend. With Sentry on, spans get trace ids even when no OTLP endpoint is
//! set (`crate::tracing_export`). A report never carries a request body, a token or an amount:
//! no default PII, no breadcrumbs, and the request part is cut to method, path and the headers
//! Sentry does not deem sensitive (no query string, no cookies, no body).

use opentelemetry::trace::TraceContextExt;
use sentry::protocol::{Context, Event, TraceContext};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::registry::LookupSpan;

/// The variable that turns reports on.
pub const SENTRY_DSN: &str = "SENTRY_DSN";

/// Whether reports are on (SENTRY_DSN set and not blank).
pub fn enabled() -> bool {
    dsn().is_some()
}

fn dsn() -> Option<String> {
    std::env::var(SENTRY_DSN)
        .ok()
        .filter(|dsn| !dsn.trim().is_empty())
}

/// Starts the client when SENTRY_DSN is set; the guard flushes pending reports when dropped, so
/// `main` holds it to the end. A DSN that does not parse is named on stderr and ignored.
pub fn init() -> Option<sentry::ClientInitGuard> {
    let dsn = dsn()?;
    if let Err(error) = dsn.parse::<sentry::types::Dsn>() {
        eprintln!("SENTRY_DSN is not a DSN ({error}): errors are not reported");
        return None;
    }
    let environment = std::env::var("DJINN_ENV").unwrap_or_else(|_| "production".to_owned());
    let options = sentry::ClientOptions::new()
        .dsn(&dsn)
        .release(release())
        .environment(environment)
        .send_default_pii(false)
        .max_breadcrumbs(0)
        .max_request_body_size(sentry::MaxRequestBodySize::None)
        .before_send(|event| Some(scrubbed(with_trace(event))));
    Some(sentry::init(options))
}

/// `djinn@<version>+<commit>`, as `build_info` labels the build.
pub fn release() -> String {
    format!(
        "djinn@{}+{}",
        env!("CARGO_PKG_VERSION"),
        env!("DJINN_COMMIT")
    )
}

/// The layer that turns ERROR events into reports, when reports are on.
pub fn layer<S>() -> Option<Box<dyn Layer<S> + Send + Sync>>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
{
    enabled().then(|| {
        sentry::integrations::tracing::ErrorLayer::new()
            .with_filter(LevelFilter::ERROR)
            .boxed()
    })
}

/// Sets the report's trace to the OpenTelemetry span it was captured in (the report is prepared
/// on the thread that logged the error, inside its span).
fn with_trace(mut event: Event<'static>) -> Event<'static> {
    let context = tracing::Span::current().context();
    let ids = context.span().span_context().clone();
    if !ids.is_valid() {
        return event;
    }
    let trace_id = ids.trace_id().to_string();
    let span_id = ids.span_id().to_string();
    if let (Ok(trace), Ok(span)) = (trace_id.parse(), span_id.parse()) {
        event.contexts.insert(
            "trace".to_owned(),
            Context::Trace(Box::new(TraceContext {
                trace_id: trace,
                span_id: span,
                ..Default::default()
            })),
        );
    }
    event.tags.insert("trace_id".to_owned(), trace_id);
    event.tags.insert("span_id".to_owned(), span_id);
    event
}

/// Cuts the request down to what cannot carry money or credentials.
fn scrubbed(mut event: Event<'static>) -> Event<'static> {
    if let Some(request) = event.request.as_mut() {
        request.data = None;
        request.query_string = None;
        request.cookies = None;
        request.env.clear();
        if let Some(url) = request.url.as_mut() {
            url.set_query(None);
            url.set_fragment(None);
        }
    }
    event.user = None;
    event
}

/// Wraps the api's router so that each request has a hub of its own, whose reports carry the
/// request's method, URL and non-sensitive headers (sentry-tower).
pub fn around_requests(router: axum::Router) -> axum::Router {
    if !enabled() {
        return router;
    }
    router
        .layer(sentry::integrations::tower::SentryHttpLayer::new())
        .layer(sentry::integrations::tower::NewSentryLayer::<
            axum::extract::Request,
        >::new_from_top())
}
