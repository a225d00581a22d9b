//! One trace from the GraphQL request to the ledger step's SQL, across the workflow boundary:
//! real `djinn api` and `djinn worker` processes export their spans over OTLP/HTTP to a
//! receiver of the test's own (protobuf, `opentelemetry-proto`). The client's `traceparent`
//! is continued; the request, its GraphQL operation, the registration's SQL, the workflow's
//! start, the workflow task, and the ledger step with its SQL share its trace id, each the
//! child of the one before; no span carries an amount, a description or a token. When the api
//! dies in the middle of its transfer, `djinn worker` finishes it in the same trace, and neither
//! process logs the transfer's amount, description or token.

use axum::{Router, body::Bytes, extract::State, routing::post};
use djinn_tests::{Client, settled_transfer_with_header, spawn_api, transfer_with_header};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
struct Span {
    service: String,
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
        for resource in &request.resource_spans {
            let service = format!("{:?}", resource.resource);
            for span in resource.scope_spans.iter().flat_map(|s| &s.spans) {
                received.push(Span {
                    service: service.clone(),
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

/// The spans of `trace_id` received by now, once every one of `wanted` (a name, and a part of
/// its process's resource) is among them; an error after 40 seconds (a lost workflow task
/// times out after 10).
async fn spans_of(
    received: &Received,
    trace_id: &str,
    wanted: &[(&str, &str)],
) -> anyhow::Result<Vec<Span>> {
    let started = Instant::now();
    loop {
        let spans: Vec<Span> = received
            .lock()
            .expect("a lock")
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect();
        if wanted
            .iter()
            .all(|(name, service)| find(&spans, name, service).is_some())
        {
            return Ok(spans);
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(40),
            "spans of the trace: {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The span named `name` from the process whose resource mentions `service`.
fn find(spans: &[Span], name: &str, service: &str) -> Option<Span> {
    spans
        .iter()
        .find(|s| s.name == name && s.service.contains(service))
        .cloned()
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
        "workflow_task",
        "ledger_step",
        "reserve_and_post_transfer",
    ];
    let wanted: Vec<(&str, &str)> = wanted.iter().map(|name| (*name, "djinn-api")).collect();
    let spans = spans_of(&received, TRACE_ID, &wanted).await?;
    let named = |name: &str| find(&spans, name, "djinn-api").expect("a span");
    assert_eq!(
        named("request").parent,
        CLIENT_SPAN,
        "the client's traceparent is continued"
    );
    assert_eq!(named("graphql").parent, named("request").span_id);
    assert_eq!(named("register_transfer").parent, named("graphql").span_id);
    assert_eq!(named("start_transfer").parent, named("graphql").span_id);
    assert_eq!(
        named("workflow_task").parent,
        named("start_transfer").span_id,
        "across the workflow boundary"
    );
    assert_eq!(named("ledger_step").parent, named("workflow_task").span_id);
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

const CRASH_TRACE_ID: &str = "5ce0e9a56015fec5aadfa328ae398115";

/// The api dies right after its transfer's ledger step committed, with its first workflow task
/// unfinished (the chaos switch gives its exporter a moment first). `djinn worker` runs the task
/// again after it timed out, and its spans join the same trace under the api's workflow start.
#[tokio::test]
async fn a_transfer_finished_by_djinn_worker_after_a_crash_stays_in_its_trace() -> anyhow::Result<()>
{
    let app = spawn_api().await?;
    let alice = app.client("alice");
    let (otlp, received) = receiver().await?;
    let exporting = |service| {
        [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.clone()),
            ("OTEL_SERVICE_NAME", service),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ]
    };
    let doomed_env = exporting("djinn-api".to_owned());
    let mut doomed_env: Vec<(&str, &str)> =
        doomed_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    doomed_env.push((
        djinn_activities::chaos::CHAOS_ENV,
        "reserve_and_post_transfer",
    ));
    let logs = std::env::temp_dir().join(format!(
        "djinn-crash-logs-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&logs)?;
    let (api_log, worker_log) = (logs.join("api.log"), logs.join("worker.log"));
    let (mut doomed, address) = app.logged_api(&doomed_env, &api_log).await?;
    let doomed_alice = Client {
        address,
        ..alice.clone()
    };
    let (from, to) = doomed_alice.checking_and_savings("50.00").await?;
    let traceparent = format!("00-{CRASH_TRACE_ID}-{CLIENT_SPAN}-01");
    let _maybe_answered = transfer_with_header(
        &doomed_alice,
        ("traceparent", traceparent.as_str()),
        "crashed",
        (&from, &to),
        ("12.34", "crashed secret note"),
    )
    .await;
    let status = tokio::time::timeout(Duration::from_secs(60), doomed.wait()).await??;
    assert!(!status.success(), "the api must have died mid-transfer");

    let worker_env = exporting("djinn-worker".to_owned());
    let worker_env: Vec<(&str, &str)> = worker_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _survivor = app.logged_process("worker", &worker_env, &worker_log)?;
    let wanted = [
        ("start_transfer", "djinn-api"),
        ("workflow_task", "djinn-worker"),
        ("ledger_step", "djinn-worker"),
        ("reserve_and_post_transfer", "djinn-worker"),
    ];
    let spans = spans_of(&received, CRASH_TRACE_ID, &wanted).await?;
    let named = |(name, service): (&str, &str)| find(&spans, name, service).expect("a span");
    assert_eq!(
        named(wanted[1]).parent,
        named(wanted[0]).span_id,
        "the worker's task continues the api's start"
    );
    assert_eq!(named(wanted[2]).parent, named(wanted[1]).span_id);
    assert_eq!(named(wanted[3]).parent, named(wanted[2]).span_id);
    let repeated = transfer_with_header(
        &alice,
        ("x-request-id", "repeated"),
        "crashed",
        (&from, &to),
        ("12.34", "crashed secret note"),
    )
    .await?;
    let id = repeated["data"]["createTransfer"]["transfer"]["id"]
        .as_str()
        .expect("an id");
    assert_eq!(alice.settled_transfer(id).await?["status"], "POSTED");
    app.assert_ledger_consistent().await?;
    // A crash logs no more than a transfer does: no amount, no description, no token.
    let logged = format!(
        "{}{}",
        std::fs::read_to_string(&api_log)?,
        std::fs::read_to_string(&worker_log)?
    );
    for secret in ["12.34", "crashed secret", alice.token.as_str()] {
        assert!(!logged.contains(secret), "{secret:?} is logged");
    }
    std::fs::remove_dir_all(logs)?;
    Ok(())
}
