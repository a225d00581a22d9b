//! Traces over OTLP/HTTP (protobuf), with the standard variables: OTEL_EXPORTER_OTLP_ENDPOINT
//! turns it on (nothing is exported, and nothing is spent on it, without it),
//! OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the process, OTEL_TRACES_SAMPLER and
//! _ARG sample, OTEL_BSP_* tune the batching. Every `tracing` span of the process becomes an
//! OpenTelemetry span (`tracing-opentelemetry`); the spans carry ids and names only, never an
//! amount, a description, an account name or a token (every `#[instrument]` skips its
//! arguments). Trace context crosses the workflow boundary in the workflow's input
//! (`djinn_temporal::trace_context`).

use opentelemetry::trace::TracerProvider;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::OnceLock;
use tracing::Level;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The layer that gives spans trace ids and exports them, when OTEL_EXPORTER_OTLP_ENDPOINT is
/// set; with only SENTRY_DSN set, one that gives them ids for the error reports to carry and
/// exports nothing.
pub fn layer<S>() -> Option<Box<dyn Layer<S> + Send + Sync>>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
{
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|endpoint| !endpoint.trim().is_empty());
    let builder = SdkTracerProvider::builder().with_resource(Resource::builder().build());
    let builder = match endpoint {
        Some(_) => match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
        {
            Ok(exporter) => builder.with_batch_exporter(exporter),
            Err(error) => {
                eprintln!("traces are not exported: {error}");
                return None;
            }
        },
        None if crate::error_reports::enabled() => builder,
        None => return None,
    };
    let provider = builder.build();
    let tracer = provider.tracer("djinn");
    let _ = PROVIDER.set(provider);
    // Djinn's own spans, at info, whatever RUST_LOG says of the log lines: not the SDK's, sqlx's
    // or the HTTP stack's, which would bury a transfer's few spans under their own.
    let djinn_spans = Targets::new().with_target("djinn", Level::INFO);
    Some(
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(djinn_spans)
            .boxed(),
    )
}

/// Sends the spans still batched: called once the process's work is done.
pub fn flush() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.force_flush();
        let _ = provider.shutdown();
    }
}
