//! The receiver the traced api exports its spans to: an OTLP/HTTP endpoint (protobuf) that
//! decodes each export and counts its spans, as a collector would take them in, so that the
//! traced phase pays the whole cost of exporting: batching, encoding, HTTP.

use axum::{Router, body::Bytes, extract::State, routing::post};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Spans received so far.
#[derive(Clone, Default)]
pub struct Received(Arc<AtomicU64>);

impl Received {
    pub fn spans(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

async fn receive(State(received): State<Received>, body: Bytes) -> &'static str {
    if let Ok(request) = ExportTraceServiceRequest::decode(body) {
        let spans = request
            .resource_spans
            .iter()
            .flat_map(|resource| &resource.scope_spans)
            .map(|scope| scope.spans.len() as u64)
            .sum::<u64>();
        received.0.fetch_add(spans, Ordering::Relaxed);
    }
    ""
}

/// Listens on `addr` until the process ends.
pub async fn start(addr: &str) -> anyhow::Result<Received> {
    let received = Received::default();
    let app = Router::new()
        .route("/v1/traces", post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(received)
}
