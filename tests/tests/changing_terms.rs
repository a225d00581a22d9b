//! Terms that change, and accounts that open owing: `setOverdraftLimit` moves an account's
//! limit and the ledger's floor together (a transfer past the old limit then passes, past the new
//! one fails), refuses a limit the account already uses, and every bad input is a userError that
//! changes nothing; a credit card or a loan opens owing money within its credit line, and nothing
//! else opens below zero.

use djinn_tests::{Client, NewAccount, TestApp, spawn_app};
use serde_json::{Value, json};

const SET_LIMIT: &str = r#"mutation($input: SetOverdraftLimitInput!) {
  setOverdraftLimit(input: $input) {
    account { id balance { amount } availableBalance { amount } overdraftLimit { amount currency } }
    userErrors { field code message }
  }
}"#;

async fn set_limit(client: &Client, account: &str, limit: Value) -> anyhow::Result<Value> {
    Ok(client
        .data(
            SET_LIMIT,
            json!({"input": {"accountId": account, "limit": limit}}),
        )
        .await?["setOverdraftLimit"]
        .clone())
}

fn usd(amount: &str) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

/// The account's limit and the ledger's floor, as stored.
async fn terms(app: &TestApp, account: &str) -> anyhow::Result<(Option<i64>, Option<i64>)> {
    let id = djinn_graphql::schema::ids::decode(account)
        .expect("an account id")
        .1;
    Ok(sqlx::query_as(
        "SELECT a.overdraft_limit_minor, b.floor_minor
           FROM accounts a JOIN account_balances b ON b.account_id = a.id WHERE a.id = $1",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await?)
}

async fn settled_status(alice: &Client, key: &str, from: &str, to: &str, amount: &str) -> String {
    let created = alice
        .create_transfer(key, from, to, amount, "USD")
        .await
        .expect("an answer");
    match created["transfer"]["id"].as_str() {
        Some(id) => alice.settled_transfer(id).await.expect("settled")["status"]
            .as_str()
            .unwrap_or("?")
            .to_owned(),
        None => created["userErrors"][0]["code"]
            .as_str()
            .unwrap_or("?")
            .to_owned(),
    }
}

#[tokio::test]
async fn a_limit_moves_with_its_floor_and_is_refused_when_in_use() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("10.00").await?;
    assert_eq!(
        settled_status(&alice, "t-1", &checking, &savings, "30.00").await,
        "INSUFFICIENT_FUNDS"
    );

    let raised = set_limit(&alice, &checking, usd("50.00")).await?;
    assert_eq!(raised["userErrors"], json!([]), "{raised}");
    assert_eq!(raised["account"]["overdraftLimit"], usd("50.00"));
    assert_eq!(terms(&app, &checking).await?, (Some(5_000), Some(-5_000)));
    // The same limit again is answered the same, and changes nothing.
    assert_eq!(set_limit(&alice, &checking, usd("50.00")).await?, raised);
    assert_eq!(
        settled_status(&alice, "t-2", &checking, &savings, "30.00").await,
        "POSTED"
    );

    // Overdrawn by 20.00: a limit under that is refused and changes nothing.
    let refused = set_limit(&alice, &checking, usd("19.99")).await?;
    assert_eq!(
        refused["userErrors"][0]["code"], "OVERDRAFT_IN_USE",
        "{refused}"
    );
    assert!(refused["account"].is_null());
    assert_eq!(terms(&app, &checking).await?, (Some(5_000), Some(-5_000)));
    let cleared = set_limit(&alice, &checking, Value::Null).await?;
    assert_eq!(cleared["userErrors"][0]["code"], "OVERDRAFT_IN_USE");

    let lowered = set_limit(&alice, &checking, usd("20.00")).await?;
    assert_eq!(lowered["account"]["availableBalance"]["amount"], "-20.00");
    assert_eq!(terms(&app, &checking).await?, (Some(2_000), Some(-2_000)));
    assert_eq!(
        settled_status(&alice, "t-3", &checking, &savings, "0.01").await,
        "INSUFFICIENT_FUNDS"
    );
    // Paid back, the limit can go: zero and null both mean none.
    assert_eq!(
        settled_status(&alice, "t-4", &savings, &checking, "20.00").await,
        "POSTED"
    );
    let gone = set_limit(&alice, &checking, usd("0")).await?;
    assert!(gone["account"]["overdraftLimit"].is_null(), "{gone}");
    assert_eq!(terms(&app, &checking).await?, (None, Some(0)));
    let changes: i64 = sqlx::query_scalar("SELECT count(*) FROM overdraft_limit_changes")
        .fetch_one(&app.db)
        .await?;
    assert_eq!(changes, 3, "each change kept, the repeat not");
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn bad_limits_are_user_errors_that_change_nothing() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (checking, _) = alice.checking_and_savings("10.00").await?;
    let mallory = app.client("mallory");
    let cases = [
        (&alice, usd("-5.00"), "INVALID_AMOUNT"),
        (&alice, usd("5.001"), "INVALID_AMOUNT"),
        (&alice, usd("abc"), "INVALID_AMOUNT"),
        (
            &alice,
            json!({"amount": "5.00", "currency": "EUR"}),
            "CURRENCY_MISMATCH",
        ),
        (
            &alice,
            json!({"amount": "5.00", "currency": "usd"}),
            "INVALID_CURRENCY",
        ),
        (&alice, usd("99999999999999999999"), "INVALID_AMOUNT"),
        (&mallory, usd("5.00"), "ACCOUNT_NOT_FOUND"),
    ];
    for (client, limit, code) in cases {
        let answer = set_limit(client, &checking, limit.clone()).await?;
        assert_eq!(answer["userErrors"][0]["code"], code, "{limit}: {answer}");
        assert!(answer["account"].is_null());
    }
    let unknown = set_limit(&alice, "QWNjb3VudDpub3BlCg", usd("5.00")).await?;
    assert_eq!(unknown["userErrors"][0]["code"], "ACCOUNT_NOT_FOUND");
    assert_eq!(terms(&app, &checking).await?, (None, Some(0)));
    app.assert_ledger_consistent().await
}

/// A credit card with a credit line of 1,000.00 that opens owing 250.00.
fn card_owing_250() -> NewAccount {
    NewAccount::new("Card", "USD")
        .kind("CREDIT_CARD")
        .idempotency_key("card")
        .opening_balance("-250.00")
        .overdraft_limit("1000.00")
}

#[tokio::test]
async fn a_card_or_a_loan_opens_owing_within_its_line_and_nothing_else_does() -> anyhow::Result<()>
{
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let card = card_owing_250().send(&alice).await?;
    assert_eq!(card["userErrors"], json!([]), "{card}");
    assert_eq!(card["account"]["balance"], usd("-250.00"));
    let loan = NewAccount::new("Loan", "USD")
        .kind("LOAN")
        .idempotency_key("loan")
        .opening_balance("-5000.00")
        .overdraft_limit("5000.00")
        .send(&alice)
        .await?;
    assert_eq!(loan["account"]["balance"], usd("-5000.00"), "{loan}");
    // A retry of the opening after its limit changed is still the same request, answered alike.
    let card_id = card["account"]["id"].as_str().expect("an id").to_owned();
    let raised = set_limit(&alice, &card_id, usd("2000.00")).await?;
    assert_eq!(raised["userErrors"], json!([]), "{raised}");
    let retried = card_owing_250().send(&alice).await?;
    assert_eq!(retried["account"]["id"], json!(card_id), "{retried}");
    assert_eq!(retried["account"]["overdraftLimit"], usd("2000.00"));

    let refusals = [
        ("CHECKING", "-1.00", Some("100.00"), "INVALID_AMOUNT"),
        ("SAVINGS", "-1.00", None, "INVALID_AMOUNT"),
        (
            "CREDIT_CARD",
            "-100.01",
            Some("100.00"),
            "OPENING_EXCEEDS_CREDIT_LINE",
        ),
        ("LOAN", "-1.00", None, "OPENING_EXCEEDS_CREDIT_LINE"),
    ];
    for (kind, opening, limit, code) in refusals {
        let mut account = NewAccount::new("Refused", "USD")
            .kind(kind)
            .idempotency_key(&format!("refused-{kind}-{opening}"))
            .opening_balance(opening);
        if let Some(limit) = limit {
            account = account.overdraft_limit(limit);
        }
        let answer = account.send_raw(&alice).await?;
        let payload = &answer["data"]["openAccount"];
        assert_eq!(
            payload["userErrors"][0]["code"], code,
            "{kind} {opening}: {answer}"
        );
        assert!(payload["account"].is_null());
    }
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts WHERE kind <> 'equity'")
        .fetch_one(&app.db)
        .await?;
    assert_eq!(accounts, 2, "the refusals opened nothing");
    app.assert_ledger_consistent().await
}
