//! Error reports: a `djinn api` with SENTRY_DSN pointing at a receiver of the test's own sends
//! the report of a provoked internal error (the transfers table is gone from under it), with
//! the trace id of the request, the release and the environment, and with no request body, no
//! token and no amount.

use axum::{Router, body::Bytes, extract::State, routing::post};
use djinn_tests::{spawn_api, transfer_with_header};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Received = Arc<Mutex<Vec<String>>>;

async fn receive(State(received): State<Received>, body: Bytes) -> &'static str {
    received
        .lock()
        .expect("a lock")
        .push(String::from_utf8_lossy(&body).into_owned());
    "{}"
}

/// A Sentry envelope endpoint on a port of its own: the DSN that points at it, and what it
/// received.
async fn receiver() -> anyhow::Result<(String, Received)> {
    let received = Received::default();
    let app = Router::new()
        .route("/api/{project}/envelope/", post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let dsn = format!("http://djinnpublickey@{}/42", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((dsn, received))
}

/// The first event among the envelopes received (the item after an `event` item header), as
/// JSON, with the whole envelope.
fn error_event(received: &Received) -> Option<(Value, String)> {
    received
        .lock()
        .expect("a lock")
        .iter()
        .find_map(|envelope| {
            let lines: Vec<Value> = envelope
                .lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect();
            lines
                .windows(2)
                .find(|pair| pair[0]["type"] == "event")
                .map(|pair| (pair[1].clone(), envelope.clone()))
        })
}

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

#[tokio::test]
async fn an_internal_error_is_reported_with_its_trace_and_without_secrets() -> anyhow::Result<()> {
    let app = spawn_api().await?;
    let (dsn, received) = receiver().await?;
    let (_api, address) = app.api_process(&[("SENTRY_DSN", dsn.as_str())]).await?;
    let alice = djinn_client::Client::new(&address, "alice", app.http.clone());
    let (from, to) = alice.checking_and_savings("50.00").await?;
    sqlx::query("ALTER TABLE transfers RENAME TO transfers_elsewhere")
        .execute(&app.db)
        .await?;

    let traceparent = format!("00-{TRACE_ID}-b7ad6b7169203331-01");
    let answer = transfer_with_header(
        &alice,
        ("traceparent", traceparent.as_str()),
        "reported",
        (&from, &to),
        ("12.34", "reported secret note"),
    )
    .await?;
    assert_eq!(answer["errors"][0]["message"], "internal error", "{answer}");

    let started = Instant::now();
    let (event, envelope) = loop {
        if let Some(found) = error_event(&received) {
            break found;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(15),
            "no error report arrived: {:?}",
            received.lock().expect("a lock")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(event["tags"]["trace_id"], TRACE_ID, "{event}");
    assert_eq!(event["contexts"]["trace"]["trace_id"], TRACE_ID, "{event}");
    let release = event["release"].as_str().unwrap_or_default();
    assert!(release.starts_with("djinn@0.1.0+"), "{event}");
    assert_eq!(event["environment"], "development", "{event}");
    assert_eq!(event["message"], "request failed", "{event}");
    assert_eq!(event["request"]["method"], "POST", "{event}");
    for secret in [
        "12.34",
        "1234",
        "reported secret",
        alice.token.as_str(),
        "authorization",
        "Authorization",
        "idempotencyKey",
    ] {
        assert!(
            !envelope.contains(secret),
            "the report carries {secret:?}: {envelope}"
        );
    }
    Ok(())
}
