//! Logs that can be read without leaking: each request gets an id (`x-request-id`, the
//! client's or a new one) that every one of its log lines carries with the user's internal id
//! and the operation; and the money flows through real `djinn api` and `djinn worker` processes
//! (an opening balance, a transfer posted, replayed, refused for want of funds, and refused as
//! malformed) log no amount, no account name, no description and no token at info level or
//! above.

use djinn_tests::{settled_transfer_with_header, spawn_api, transfer_with_header};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn a_request_id_is_kept_or_made_and_returned() -> anyhow::Result<()> {
    let app = spawn_api().await?;
    let health = format!("{}/healthz", app.address);
    let kept = app
        .http
        .get(&health)
        .header("x-request-id", "client-id.42_a")
        .send()
        .await?;
    assert_eq!(kept.headers()["x-request-id"], "client-id.42_a");
    for sent in [None, Some("has spaces"), Some(&*"x".repeat(65))] {
        let mut request = app.http.get(&health);
        if let Some(sent) = sent {
            request = request.header("x-request-id", sent);
        }
        let made = request.send().await?;
        let id = made.headers()["x-request-id"].to_str()?.to_owned();
        assert!(
            uuid::Uuid::parse_str(&id).is_ok(),
            "a fresh id for {sent:?}: {id}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_money_flow_logs_its_ids_and_none_of_its_secrets() -> anyhow::Result<()> {
    let app = spawn_api().await?;
    let dir = std::env::temp_dir().join(format!("djinn-logs-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)?;
    let (api_log, worker_log) = (dir.join("api.log"), dir.join("worker.log"));
    let _worker = app.logged_process("worker", &[], &worker_log)?;
    let (_api, address) = app.logged_api(&[], &api_log).await?;
    let alice = djinn_client::Client::new(&address, "alice", app.http.clone());
    let opened = alice
        .data(
            djinn_client::OPEN_ACCOUNT,
            json!({"input": {"idempotencyKey": "zz-open", "name": "Zanzibar Checking", "kind": "CHECKING",
                   "currency": "USD", "openingBalance": {"amount": "4321.09", "currency": "USD"}}}),
        )
        .await?;
    let from = opened["openAccount"]["account"]["id"]
        .as_str()
        .expect("an account")
        .to_owned();
    let to = alice.open_account("Savings", "USD", None).await?;
    settled_transfer_with_header(
        &alice,
        ("x-request-id", "req-money-flow-1"),
        "zz-transfer",
        (&from, &to),
        ("1234.56", "secret rent note 9981"),
    )
    .await?;
    // The other paths money takes: a replay, a refusal for want of funds, and bad input.
    let replayed = transfer_with_header(
        &alice,
        ("x-request-id", "req-money-flow-2"),
        "zz-transfer",
        (&from, &to),
        ("1234.56", "secret rent note 9981"),
    )
    .await?;
    let refused = transfer_with_header(
        &alice,
        ("x-request-id", "req-money-flow-3"),
        "zz-refused",
        (&from, &to),
        ("8765.43", "secret refused note 5521"),
    )
    .await?;
    assert_eq!(
        refused["data"]["createTransfer"]["userErrors"][0]["code"], "INSUFFICIENT_FUNDS",
        "{refused}"
    );
    let malformed = transfer_with_header(
        &alice,
        ("x-request-id", "req-money-flow-4"),
        "zz-malformed",
        (&from, &to),
        ("77.777", "secret malformed note 3317"),
    )
    .await?;
    assert!(
        replayed["data"]["createTransfer"]["transfer"]["id"].is_string()
            && malformed["data"]["createTransfer"]["transfer"].is_null(),
        "{replayed} {malformed}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    let logs = format!(
        "{}{}",
        std::fs::read_to_string(&api_log)?,
        std::fs::read_to_string(&worker_log)?
    );
    for secret in [
        "Zanzibar",
        "4321.09",
        "432109",
        "1234.56",
        "123456",
        "secret rent note",
        "8765.43",
        "876543",
        "secret refused note",
        "77.777",
        "secret malformed note",
        &alice.token,
    ] {
        let leaking: Vec<&str> = logs.lines().filter(|line| line.contains(secret)).collect();
        assert!(leaking.is_empty(), "{secret:?} is logged: {leaking:?}");
    }
    let request_lines: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["span"]["request_id"] == "req-money-flow-1")
        .collect();
    assert!(
        !request_lines.is_empty(),
        "the request's lines carry its id"
    );
    for line in &request_lines {
        assert!(line["span"]["user_id"].is_string(), "{line}");
        assert_eq!(line["span"]["operation"], "createTransfer", "{line}");
    }
    std::fs::remove_dir_all(dir)?;
    Ok(())
}
