//! One trace from the GraphQL request to the ledger step's SQL, across the workflow boundary:
//! real `djinn api` and `djinn worker` processes export their spans over OTLP/HTTP to a
//! receiver of the test's own (protobuf, `opentelemetry-proto`). The client's `traceparent`
//! is continued; the request, its GraphQL operation, the registration's SQL, the workflow's
//! start, and the ledger step with its SQL share its trace id, each the child of the one
//! before; no span carries an amount, a description or a token.

use axum::{Router, body::Bytes, extract::State, routing::post};
use djinn_tests::{settled_transfer_with_header, spawn_api};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
struct Span {
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    attributes: String,
}

type Received = Arc<Mutex<Vec<Span>>>;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn receive(State(received): State<Received>, body: Bytes) -> &'static str {
    if let Ok(request) = ExportTraceServiceRequest::decode(body) {
        let mut received = received.lock().expect("a lock");
        for scope in request.resource_spans.iter().flat_map(|r| &r.scope_spans) {
            for span in &scope.spans {
                received.push(Span {
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent: hex(&span.parent_span_id),
                    name: span.name.clone(),
                    attributes: format!("{:?}", span.attributes),
                });
            }
        }
    }
    ""
}

/// An OTLP/HTTP receiver on a port of its own: its endpoint, and what it received.
async fn receiver() -> anyhow::Result<(String, Received)> {
    let received = Received::default();
    let app = Router::new()
        .route("/v1/traces", post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((endpoint, received))
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn a_transfer_is_one_trace_from_the_request_to_the_ledger_rows() -> anyhow::Result<()> {
    let app = spawn_api().await?;
    let (otlp, received) = receiver().await?;
    let api_log = std::env::temp_dir().join(format!(
        "djinn-traced-{}.log",
        uuid::Uuid::now_v7().simple()
    ));
    let exporting = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.as_str()),
        ("OTEL_SERVICE_NAME", "djinn-api"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let (_api, address) = app.logged_api(&exporting, &api_log).await?;
    let alice = djinn_client::Client::new(&address, "alice", app.http.clone());
    let (from, to) = alice.checking_and_savings("50.00").await?;
    let traceparent = format!("00-{TRACE_ID}-{CLIENT_SPAN}-01");
    settled_transfer_with_header(
        &alice,
        ("traceparent", traceparent.as_str()),
        "traced",
        (&from, &to),
        ("12.34", "traced secret note"),
    )
    .await?;

    let wanted = [
        "request",
        "graphql",
        "register_transfer",
        "start_transfer",
        "ledger_step",
        "reserve_and_post_transfer",
    ];
    let started = Instant::now();
    let spans = loop {
        let spans: Vec<Span> = received
            .lock()
            .expect("a lock")
            .iter()
            .filter(|s| s.trace_id == TRACE_ID)
            .cloned()
            .collect();
        if wanted
            .iter()
            .all(|name| spans.iter().any(|s| s.name == *name))
        {
            break spans;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(15),
            "spans of the trace: {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let named = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .expect("a span")
            .clone()
    };
    assert_eq!(
        named("request").parent,
        CLIENT_SPAN,
        "the client's traceparent is continued"
    );
    assert_eq!(named("graphql").parent, named("request").span_id);
    assert_eq!(named("register_transfer").parent, named("graphql").span_id);
    assert_eq!(named("start_transfer").parent, named("graphql").span_id);
    assert_eq!(
        named("ledger_step").parent,
        named("start_transfer").span_id,
        "across the workflow boundary"
    );
    assert_eq!(
        named("reserve_and_post_transfer").parent,
        named("ledger_step").span_id
    );
    for span in received.lock().expect("a lock").iter() {
        for secret in [
            "12.34",
            "IntValue(1234)",
            "\"1234\"",
            "traced secret",
            alice.token.as_str(),
        ] {
            assert!(
                !span.attributes.contains(secret),
                "{} carries {secret:?}: {}",
                span.name,
                span.attributes
            );
        }
    }
    // The logs join the trace: the request's lines carry its trace id and span id, and so do
    // the ledger step's (the api's own worker ran it).
    let logs = std::fs::read_to_string(&api_log)?;
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let in_trace = |span_name: &str, span_id: &str| {
        lines.iter().any(|line| {
            line["spans"].as_array().into_iter().flatten().any(|span| {
                span["name"] == span_name
                    && span["trace_id"] == TRACE_ID
                    && span["span_id"] == span_id
            })
        })
    };
    assert!(
        in_trace("request", &named("request").span_id),
        "a request line carries the trace"
    );
    std::fs::remove_file(api_log)?;
    Ok(())
}
