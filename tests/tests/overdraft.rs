//! Overdraft limits: an account opened with one (a credit card, an arranged overdraft) may go
//! below zero by that much and never further, even under concurrent transfers. A bad limit is a
//! userError that opens nothing.

use djinn_tests::{Client, NewAccount, spawn_app};
use serde_json::{Value, json};

/// Opens a USD credit card under `key` with `limit` as its overdraft limit, as given.
async fn open_card(alice: &Client, key: &str, limit: Value) -> anyhow::Result<Value> {
    NewAccount::new("Card", "USD")
        .kind("CREDIT_CARD")
        .idempotency_key(key)
        .with("overdraftLimit", limit)
        .send(alice)
        .await
}

fn id(payload: &Value) -> String {
    payload["account"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an account: {payload}"))
        .to_owned()
}

#[tokio::test]
async fn an_account_goes_below_zero_by_its_limit_and_never_further() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let opened = open_card(
        &alice,
        "card",
        json!({"amount": "100.00", "currency": "USD"}),
    )
    .await?;
    assert_eq!(
        opened["account"]["overdraftLimit"],
        json!({"amount": "100.00", "currency": "USD"})
    );
    let card = id(&opened);
    let checking = alice.open_account("Checking", "USD", None).await?;

    let first = alice
        .create_transfer("spend-1", &card, &checking, "60.00", "USD")
        .await?;
    let first_id = first["transfer"]["id"].as_str().unwrap_or_default();
    assert_eq!(alice.settled_transfer(first_id).await?["status"], "POSTED");
    assert_eq!(app.balance_minor(&card).await?, (-6_000, 0));

    // 40.00 of the limit is left: 60.00 more is refused and changes nothing.
    let refused = alice
        .create_transfer("spend-2", &card, &checking, "60.00", "USD")
        .await?;
    assert_eq!(
        refused["userErrors"][0]["code"], "INSUFFICIENT_FUNDS",
        "{refused}"
    );
    assert!(
        refused["userErrors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("overdraft limit of 100.00"),
        "{refused}"
    );
    assert_eq!(app.balance_minor(&card).await?, (-6_000, 0));

    let rest = alice
        .create_transfer("spend-3", &card, &checking, "40.00", "USD")
        .await?;
    let rest_id = rest["transfer"]["id"].as_str().unwrap_or_default();
    assert_eq!(alice.settled_transfer(rest_id).await?["status"], "POSTED");
    assert_eq!(app.balance_minor(&card).await?, (-10_000, 0));
    let cent = alice
        .create_transfer("spend-4", &card, &checking, "0.01", "USD")
        .await?;
    assert_eq!(
        cent["userErrors"][0]["code"], "INSUFFICIENT_FUNDS",
        "{cent}"
    );

    // An account without a limit still stops at zero.
    let empty = alice
        .create_transfer("spend-5", &checking, &card, "100.01", "USD")
        .await?;
    assert_eq!(
        empty["userErrors"][0]["code"], "INSUFFICIENT_FUNDS",
        "{empty}"
    );
    assert_eq!(app.balance_minor(&checking).await?, (10_000, 0));
    app.assert_ledger_consistent().await?;
    Ok(())
}

#[tokio::test]
async fn concurrent_transfers_never_pass_the_limit() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let card = id(&open_card(
        &alice,
        "card",
        json!({"amount": "100.00", "currency": "USD"}),
    )
    .await?);
    let checking = alice.open_account("Checking", "USD", None).await?;

    // Ten transfers of 25.00 against a limit of 100.00: exactly four fit.
    let keys: Vec<String> = (0..10).map(|i| format!("burst-{i}")).collect();
    let requests = keys
        .iter()
        .map(|key| alice.create_transfer(key, &card, &checking, "25.00", "USD"));
    let mut posted = 0;
    for payload in futures::future::join_all(requests).await {
        let payload = payload?;
        match payload["transfer"]["id"].as_str() {
            Some(transfer) => match alice.settled_transfer(transfer).await?["status"].as_str() {
                Some("POSTED") => posted += 1,
                Some("VOIDED") => {}
                other => panic!("unexpected status {other:?}"),
            },
            None => assert_eq!(payload["userErrors"][0]["code"], "INSUFFICIENT_FUNDS"),
        }
    }
    assert_eq!(posted, 4);
    assert_eq!(app.balance_minor(&card).await?, (-10_000, 0));
    assert_eq!(app.balance_minor(&checking).await?, (10_000, 0));
    app.assert_ledger_consistent().await?;
    Ok(())
}

#[tokio::test]
async fn a_bad_limit_opens_nothing() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    for (limit, field, code) in [
        (
            json!({"amount": "-1.00", "currency": "USD"}),
            "amount",
            "INVALID_AMOUNT",
        ),
        (
            json!({"amount": "1.001", "currency": "USD"}),
            "amount",
            "INVALID_AMOUNT",
        ),
        (
            json!({"amount": "abc", "currency": "USD"}),
            "amount",
            "INVALID_AMOUNT",
        ),
        (
            json!({"amount": "1e3", "currency": "USD"}),
            "amount",
            "INVALID_AMOUNT",
        ),
        (
            json!({"amount": "92233720368547758.08", "currency": "USD"}),
            "amount",
            "INVALID_AMOUNT",
        ),
        (
            json!({"amount": "10.00", "currency": "EUR"}),
            "currency",
            "CURRENCY_MISMATCH",
        ),
    ] {
        let payload = open_card(&alice, "bad", limit.clone()).await?;
        assert!(payload["account"].is_null(), "{limit}: {payload}");
        assert_eq!(payload["userErrors"][0]["code"], code, "{limit}: {payload}");
        assert_eq!(
            payload["userErrors"][0]["field"],
            json!(["input", "overdraftLimit", field]),
            "{limit}: {payload}"
        );
    }
    let opened: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts")
        .fetch_one(&app.db)
        .await?;
    assert_eq!(opened, 0, "nothing was opened");

    // The same key with another limit is another request.
    let first = open_card(
        &alice,
        "card",
        json!({"amount": "50.00", "currency": "USD"}),
    )
    .await?;
    let again = open_card(
        &alice,
        "card",
        json!({"amount": "50.00", "currency": "USD"}),
    )
    .await?;
    assert_eq!(id(&again), id(&first));
    let other = open_card(
        &alice,
        "card",
        json!({"amount": "60.00", "currency": "USD"}),
    )
    .await?;
    assert_eq!(
        other["userErrors"][0]["code"], "IDEMPOTENCY_KEY_REUSED",
        "{other}"
    );
    // A limit of zero is no limit at all.
    let zero = open_card(&alice, "zero", json!({"amount": "0.00", "currency": "USD"})).await?;
    assert!(zero["account"]["overdraftLimit"].is_null(), "{zero}");
    Ok(())
}
