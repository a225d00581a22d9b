//! Financial data in Temporal histories is unreadable without the key: the raw history, as the
//! server stores and serves it, holds no amount or description in clear, while the codec
//! endpoints give authorised staff the decrypted payloads.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use djinn_tests::{NewTransfer, spawn_app, spawn_app_with};
use serde_json::{Value, json};

const DESCRIPTION: &str = "rent-for-november-7f3a";
const AMOUNT_MINOR: &str = "98765";
/// As the memo's summary writes it.
const AMOUNT: &str = "987.65";

fn temporal_cli() -> String {
    std::env::var("DJINN_TEMPORAL_CLI").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../.tools/venv/bin/temporal").to_owned()
    })
}

/// The workflow's history exactly as the server returns it.
fn raw_history(workflow_id: &str) -> anyhow::Result<String> {
    let address = std::env::var("TEMPORAL_ADDRESS")?;
    let output = std::process::Command::new(temporal_cli())
        .args([
            "workflow",
            "show",
            "--workflow-id",
            workflow_id,
            "--address",
            &address,
            "--namespace",
            "default",
            "-o",
            "json",
        ])
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "temporal workflow show failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

/// Every payload object ({metadata, data}) anywhere in the history.
fn payloads(value: &Value, found: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            if map.contains_key("metadata") && map.contains_key("data") {
                found.push(value.clone());
            }
            map.values().for_each(|v| payloads(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| payloads(v, found)),
        _ => {}
    }
}

/// The memo's summary, in the run's first event, is stored encrypted.
fn assert_summary_encrypted(history: &Value) {
    let summary = &history["events"][0]["workflowExecutionStartedEventAttributes"]["memo"]["fields"]
        ["summary"];
    assert_eq!(
        summary["metadata"]["encoding"],
        STANDARD.encode("binary/encrypted"),
        "{summary}"
    );
}

fn decoded_data(payload: &Value) -> String {
    let data = payload["data"].as_str().unwrap_or_default();
    String::from_utf8_lossy(
        &STANDARD
            .decode(data)
            .unwrap_or_else(|_| data.as_bytes().to_vec()),
    )
    .into_owned()
}

#[tokio::test]
async fn histories_hold_no_financial_data_in_clear() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let from = alice
        .open_account("Alice everyday", "USD", Some("5000.00"))
        .await?;
    let to = alice.open_account("Alice rainy day", "USD", None).await?;
    let payload = NewTransfer::new("enc-1", &from, &to, "987.65", "USD")
        .description(DESCRIPTION)
        .send(&alice)
        .await?;
    let transfer = &payload["transfer"];
    assert_eq!(
        alice
            .settled_transfer(transfer["id"].as_str().expect("an id"))
            .await?["status"],
        "POSTED"
    );
    let workflow_id = transfer["workflowId"].as_str().expect("a workflow id");

    let raw = raw_history(workflow_id)?;
    let history: Value = serde_json::from_str(&raw)?;
    // The memo's summary names the amount and the description: it is a payload like the input.
    assert_summary_encrypted(&history);
    let mut found = Vec::new();
    payloads(&history, &mut found);
    assert!(
        found.len() >= 4,
        "memo, input, ledger step and result are payloads: {}",
        found.len()
    );
    for secret in [DESCRIPTION, AMOUNT, "amount_minor", "description"] {
        assert!(!raw.contains(secret), "{secret:?} in the raw history");
    }
    for payload in &found {
        let data = decoded_data(payload);
        for secret in [DESCRIPTION, AMOUNT_MINOR, AMOUNT, "amount_minor"] {
            assert!(!data.contains(secret), "{secret:?} in a stored payload");
        }
    }
    // Search attributes stay readable by design (the server indexes them: user id, kind of
    // operation, status), and so does the SDK's own local-activity marker data (sequence
    // numbers, activity type, times). Everything Djinn writes is encrypted: the
    // memo, the input, the ledger step's result and the outcome.
    let encrypted = found
        .iter()
        .filter(|p| {
            p["metadata"]["encoding"]
                .as_str()
                .and_then(|e| STANDARD.decode(e).ok())
                .as_deref()
                == Some(&b"binary/encrypted"[..])
        })
        .count();
    assert!(encrypted >= 4, "only {encrypted} encrypted payloads");

    // Opening an account carries its name through Temporal, in its input and in its memo's
    // summary: encrypted too.
    let operations = alice
        .data(
            "{ operations(kind: OPEN_ACCOUNT) { edges { node { workflowId } } } }",
            json!({}),
        )
        .await?;
    for edge in operations["operations"]["edges"].as_array().expect("edges") {
        let raw = raw_history(edge["node"]["workflowId"].as_str().expect("a workflow id"))?;
        let history: Value = serde_json::from_str(&raw)?;
        assert_summary_encrypted(&history);
        let mut opened = Vec::new();
        payloads(&history, &mut opened);
        for payload in opened.iter().map(decoded_data).chain([raw.clone()]) {
            for secret in ["Alice everyday", "Alice rainy day", "500000", "5000.00"] {
                assert!(
                    !payload.contains(secret),
                    "{secret:?} in an open-account history"
                );
            }
        }
    }

    // Staff decode the same payloads through the codec endpoint: the data is all there.
    let decoded: Value = app
        .http
        .post(format!("{}/codec/decode", app.address))
        .header("x-namespace", "default")
        .json(&json!({"payloads": found}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let clear: String = decoded["payloads"]
        .as_array()
        .expect("payloads")
        .iter()
        .map(decoded_data)
        .collect();
    assert!(
        clear.contains(DESCRIPTION) && clear.contains(AMOUNT_MINOR),
        "{clear}"
    );
    Ok(())
}

#[tokio::test]
async fn the_codec_endpoints_need_the_ops_token() -> anyhow::Result<()> {
    let app = spawn_app_with(|config| config.ops_token = Some("ops-secret-123".to_owned().into()))
        .await?;
    let plain = json!({"payloads": [{"metadata": {"encoding": STANDARD.encode("json/plain")}, "data": STANDARD.encode("{\"amount_minor\":5}")}]});
    let url = |verb: &str| format!("{}/codec/{verb}", app.address);
    assert_eq!(
        app.http
            .post(url("encode"))
            .json(&plain)
            .send()
            .await?
            .status(),
        401
    );
    assert_eq!(
        app.http
            .post(url("encode"))
            .bearer_auth("wrong")
            .json(&plain)
            .send()
            .await?
            .status(),
        401
    );
    let encoded: Value = app
        .http
        .post(url("encode"))
        .bearer_auth("ops-secret-123")
        .json(&plain)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert!(!decoded_data(&encoded["payloads"][0]).contains("amount_minor"));
    assert_eq!(
        app.http
            .post(url("decode"))
            .json(&encoded)
            .send()
            .await?
            .status(),
        401
    );
    let decoded: Value = app
        .http
        .post(url("decode"))
        .bearer_auth("ops-secret-123")
        .json(&encoded)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(decoded, plain);

    // The Temporal UI calls from its own origin.
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, url("decode"))
        .header("origin", "http://127.0.0.1:8233")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,x-namespace",
        )
        .send()
        .await?;
    assert_eq!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("http://127.0.0.1:8233")
    );

    let production = spawn_app_with(|config| config.production = true).await?;
    let response = production
        .http
        .post(format!("{}/codec/decode", production.address))
        .json(&plain)
        .send()
        .await?;
    assert_eq!(
        response.status(),
        404,
        "without an ops token, production serves no codec endpoint"
    );
    Ok(())
}
