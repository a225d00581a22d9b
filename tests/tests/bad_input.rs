//! Every bad input gets a clear answer and changes nothing.

use djinn_tests::{CREATE_TRANSFER, NewAccount, OPEN_ACCOUNT, spawn_app};
use serde_json::json;

#[tokio::test]
async fn bad_amounts_are_refused_and_nothing_changes() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let from = alice
        .open_account("Checking", "USD", Some("100.00"))
        .await?;
    let to = alice.open_account("Savings", "USD", None).await?;

    let cases = [
        ("0", "INVALID_AMOUNT"),
        ("0.00", "INVALID_AMOUNT"),
        ("-1", "INVALID_AMOUNT"),
        ("1.001", "INVALID_AMOUNT"),
        ("abc", "INVALID_AMOUNT"),
        ("1e3", "INVALID_AMOUNT"),
        (" 1.00", "INVALID_AMOUNT"),
        ("", "INVALID_AMOUNT"),
        ("92233720368547758.08", "INVALID_AMOUNT"),
        ("10000000000000.01", "INVALID_AMOUNT"),
        ("99999999999999999999999", "INVALID_AMOUNT"),
        ("100.01", "INSUFFICIENT_FUNDS"),
    ];
    for (index, (amount, code)) in cases.iter().enumerate() {
        let payload = alice
            .create_transfer(&format!("bad-{index}"), &from, &to, amount, "USD")
            .await?;
        assert_eq!(payload["transfer"], json!(null), "{amount:?}");
        assert_eq!(
            payload["userErrors"][0]["code"], *code,
            "{amount:?}: {payload}"
        );
        assert_eq!(
            payload["userErrors"][0]["field"],
            json!(["input", "amount", "amount"]),
            "{amount:?}"
        );
        assert!(
            !payload["userErrors"][0]["message"]
                .as_str()
                .unwrap_or("")
                .is_empty()
        );
    }

    // Amounts as JSON numbers are malformed requests: a top-level error, not a float.
    let body = alice
        .graphql(
            CREATE_TRANSFER,
            json!({"input": {"idempotencyKey": "num", "fromAccountId": from, "toAccountId": to, "amount": {"amount": 1.5, "currency": "USD"}}}),
        )
        .await?;
    assert!(
        body["errors"].as_array().is_some_and(|e| !e.is_empty()),
        "{body}"
    );

    let other_cases = [
        (
            json!({"idempotencyKey": "c1", "fromAccountId": from, "toAccountId": to, "amount": {"amount": "1.00", "currency": "EUR"}}),
            "CURRENCY_MISMATCH",
        ),
        (
            json!({"idempotencyKey": "c2", "fromAccountId": from, "toAccountId": to, "amount": {"amount": "1.00", "currency": "usd"}}),
            "INVALID_CURRENCY",
        ),
        (
            json!({"idempotencyKey": "c3", "fromAccountId": from, "toAccountId": from, "amount": {"amount": "1.00", "currency": "USD"}}),
            "SAME_ACCOUNT",
        ),
        (
            json!({"idempotencyKey": "c4", "fromAccountId": "nonsense", "toAccountId": to, "amount": {"amount": "1.00", "currency": "USD"}}),
            "ACCOUNT_NOT_FOUND",
        ),
        (
            json!({"idempotencyKey": "c5", "fromAccountId": from, "toAccountId": "QWNjb3VudDowMTkzYTBjNC04ZTJiLTdjYzEtOWMxZS0zYjVlOWQyZjFhMDA", "amount": {"amount": "1.00", "currency": "USD"}}),
            "ACCOUNT_NOT_FOUND",
        ),
        (
            json!({"idempotencyKey": "has space", "fromAccountId": from, "toAccountId": to, "amount": {"amount": "1.00", "currency": "USD"}}),
            "INVALID_IDEMPOTENCY_KEY",
        ),
        (
            json!({"idempotencyKey": "c6", "fromAccountId": from, "toAccountId": to, "amount": {"amount": "1.00", "currency": "USD"}, "description": "x".repeat(501)}),
            "INVALID_DESCRIPTION",
        ),
    ];
    for (input, code) in other_cases {
        let data = alice.data(CREATE_TRANSFER, json!({"input": input})).await?;
        assert_eq!(data["createTransfer"]["transfer"], json!(null), "{code}");
        assert_eq!(
            data["createTransfer"]["userErrors"][0]["code"], code,
            "{data}"
        );
    }

    assert_eq!(
        alice.balances(&from).await?,
        ("100.00".into(), "100.00".into())
    );
    assert_eq!(alice.balances(&to).await?, ("0.00".into(), "0.00".into()));
    let transfers: i64 =
        sqlx::query_scalar("SELECT count(*) FROM operations WHERE kind = 'transfer'")
            .fetch_one(&app.db)
            .await?;
    assert_eq!(
        transfers, 0,
        "no refused request may leave an operation behind"
    );
    app.assert_ledger_consistent().await?;
    Ok(())
}

#[tokio::test]
async fn bad_accounts_are_refused() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let query = OPEN_ACCOUNT;
    let cases = [
        (
            json!({"name": " ", "kind": "CASH", "currency": "USD"}),
            "INVALID_NAME",
        ),
        (
            json!({"name": "x".repeat(101), "kind": "CASH", "currency": "USD"}),
            "INVALID_NAME",
        ),
        (
            json!({"name": "Wallet", "kind": "CASH", "currency": "XYZ"}),
            "INVALID_CURRENCY",
        ),
        (
            json!({"name": "Wallet", "kind": "CASH", "currency": "USD", "openingBalance": {"amount": "-5.00", "currency": "USD"}}),
            "INVALID_AMOUNT",
        ),
        (
            json!({"name": "Wallet", "kind": "CASH", "currency": "USD", "openingBalance": {"amount": "5.001", "currency": "USD"}}),
            "INVALID_AMOUNT",
        ),
        (
            json!({"name": "Wallet", "kind": "CASH", "currency": "JPY", "openingBalance": {"amount": "5.5", "currency": "JPY"}}),
            "INVALID_AMOUNT",
        ),
        (
            json!({"name": "Wallet", "kind": "CASH", "currency": "USD", "openingBalance": {"amount": "5.00", "currency": "EUR"}}),
            "CURRENCY_MISMATCH",
        ),
    ];
    for (input, code) in cases {
        let data = alice.data(query, json!({"input": input})).await?;
        assert_eq!(data["openAccount"]["account"], json!(null), "{code}");
        assert_eq!(data["openAccount"]["userErrors"][0]["code"], code, "{data}");
    }
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts")
        .fetch_one(&app.db)
        .await?;
    assert_eq!(accounts, 0);
    let too_large = json!({"name": "Wallet", "kind": "CASH", "currency": "USD", "openingBalance": {"amount": "10000000000000.01", "currency": "USD"}});
    let data = alice.data(query, json!({"input": too_large})).await?;
    assert_eq!(
        data["openAccount"]["userErrors"][0]["code"],
        "INVALID_AMOUNT"
    );
    // The same key opens one account; reusing it for another account is refused.
    let keyed = json!({"idempotencyKey": "wallet-1", "name": "Wallet", "kind": "CASH", "currency": "USD", "openingBalance": {"amount": "5.00", "currency": "USD"}});
    let first = alice.data(query, json!({"input": keyed})).await?;
    let again = alice.data(query, json!({"input": keyed})).await?;
    assert_eq!(
        first["openAccount"]["account"]["id"],
        again["openAccount"]["account"]["id"]
    );
    assert!(first["openAccount"]["account"]["id"].is_string(), "{first}");
    let renamed =
        json!({"idempotencyKey": "wallet-1", "name": "Other", "kind": "CASH", "currency": "USD"});
    let reused = alice.data(query, json!({"input": renamed})).await?;
    assert_eq!(
        reused["openAccount"]["userErrors"][0]["code"],
        "IDEMPOTENCY_KEY_REUSED"
    );
    let opening_transactions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM transactions WHERE kind = 'opening'")
            .fetch_one(&app.db)
            .await?;
    assert_eq!(opening_transactions, 1, "one opening balance for one key");

    // JPY has no minor unit: whole yen are exact.
    let yen = alice.open_account("Yen", "JPY", Some("1500")).await?;
    assert_eq!(alice.balances(&yen).await?.0, "1500");
    Ok(())
}

/// Money moves in with an opening balance: without a key, a client that retries after a lost
/// answer would open a second account with a second balance, so such a request is refused and
/// writes nothing. An empty account may still be opened without one.
#[tokio::test]
async fn an_opening_with_a_balance_needs_a_key() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let keyless = NewAccount::new("Savings", "USD").opening_balance("10.00");
    let refused = keyless.send(&alice).await?;
    assert_eq!(refused["account"], json!(null), "{refused}");
    assert_eq!(refused["userErrors"][0]["code"], "IDEMPOTENCY_KEY_REQUIRED");
    assert_eq!(
        refused["userErrors"][0]["field"],
        json!(["input", "idempotencyKey"])
    );
    let written: (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM operations), (SELECT count(*) FROM accounts)")
            .fetch_one(&app.db)
            .await?;
    assert_eq!(written, (0, 0), "nothing written");

    let empty = NewAccount::new("Wallet", "USD").send(&alice).await?;
    assert!(empty["account"]["id"].is_string(), "{empty}");
    let zero = NewAccount::new("Wallet", "USD")
        .opening_balance("0.00")
        .send(&alice)
        .await?;
    assert!(zero["account"]["id"].is_string(), "{zero}");
    app.assert_ledger_consistent().await
}
