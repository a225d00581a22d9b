//! A retried or duplicated request never moves money twice.

use djinn_tests::spawn_app;
use serde_json::json;

#[tokio::test]
async fn the_same_key_and_input_return_the_same_transfer() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (from, to) = alice.checking_and_savings("50.00").await?;

    let first = alice
        .create_transfer("once", &from, &to, "10.00", "USD")
        .await?;
    let id = first["transfer"]["id"].as_str().expect("an id").to_owned();
    alice.settled_transfer(&id).await?;
    // Retries after it posted, and a burst of concurrent duplicates: all the same transfer.
    let mut duplicates = Vec::new();
    for _ in 0..5 {
        duplicates.push(alice.create_transfer("once", &from, &to, "10.00", "USD"));
    }
    for duplicate in futures::future::join_all(duplicates).await {
        let duplicate = duplicate?;
        assert_eq!(duplicate["userErrors"], json!([]));
        assert_eq!(duplicate["transfer"]["id"], json!(id));
    }
    assert_eq!(alice.balances(&from).await?.0, "40.00");
    assert_eq!(alice.balances(&to).await?.0, "10.00");
    let transactions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM transactions WHERE kind = 'transfer'")
            .fetch_one(&app.db)
            .await?;
    assert_eq!(transactions, 1);
    app.assert_ledger_consistent().await?;
    Ok(())
}

#[tokio::test]
async fn concurrent_first_requests_with_one_key_make_one_transfer() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (from, to) = alice.checking_and_savings("50.00").await?;
    // Several keys, each raced by eight requests: the first requests of one key collide in the
    // database in more than one way (on the key, or on the workflow id derived from it), and
    // every way must answer with the one transfer.
    for race in 0..6 {
        let key = format!("race-{race}");
        let requests: Vec<_> = (0..8)
            .map(|_| alice.create_transfer(&key, &from, &to, "7.00", "USD"))
            .collect();
        let mut ids = std::collections::BTreeSet::new();
        for payload in futures::future::join_all(requests).await {
            let payload = payload?;
            assert_eq!(payload["userErrors"], json!([]), "{key}: {payload}");
            ids.insert(
                payload["transfer"]["id"]
                    .as_str()
                    .expect("an id")
                    .to_owned(),
            );
        }
        assert_eq!(ids.len(), 1, "{key}: one key, one transfer");
        let id = ids.into_iter().next().expect("one id");
        assert_eq!(alice.settled_transfer(&id).await?["status"], "POSTED");
    }
    assert_eq!(alice.balances(&from).await?.0, "8.00");
    Ok(())
}

#[tokio::test]
async fn the_same_key_with_a_different_input_is_refused() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (from, to) = alice.checking_and_savings("50.00").await?;
    let first = alice
        .create_transfer("k", &from, &to, "10.00", "USD")
        .await?;
    alice
        .settled_transfer(first["transfer"]["id"].as_str().expect("an id"))
        .await?;

    for (from, to, amount) in [(&from, &to, "10.01"), (&to, &from, "10.00")] {
        let reused = alice.create_transfer("k", from, to, amount, "USD").await?;
        assert_eq!(reused["transfer"], json!(null));
        assert_eq!(reused["userErrors"][0]["code"], "IDEMPOTENCY_KEY_REUSED");
        assert_eq!(
            reused["userErrors"][0]["field"],
            json!(["input", "idempotencyKey"])
        );
    }
    assert_eq!(alice.balances(&from).await?.0, "40.00");
    assert_eq!(alice.balances(&to).await?.0, "10.00");
    // Keys are per user: Bob may use the same key for his own transfer.
    let bob = app.client("bob");
    let (bob_from, bob_to) = (
        bob.open_account("A", "USD", Some("5.00")).await?,
        bob.open_account("B", "USD", None).await?,
    );
    let bobs = bob
        .create_transfer("k", &bob_from, &bob_to, "1.00", "USD")
        .await?;
    assert_eq!(bobs["userErrors"], json!([]));
    Ok(())
}

#[tokio::test]
async fn a_retry_after_the_money_moved_gets_its_transfer_back() -> anyhow::Result<()> {
    // The whole balance moves. A retry of that request would now fail the checks of a new one
    // (the source is empty), yet it must answer with the transfer that moved the money.
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (from, to) = alice.checking_and_savings("50.00").await?;
    let first = alice
        .create_transfer("all", &from, &to, "50.00", "USD")
        .await?;
    let id = first["transfer"]["id"].as_str().expect("an id").to_owned();
    assert_eq!(alice.settled_transfer(&id).await?["status"], "POSTED");

    let retry = alice
        .create_transfer("all", &from, &to, "50.00", "USD")
        .await?;
    assert_eq!(retry["userErrors"], json!([]), "{retry}");
    assert_eq!(retry["transfer"]["id"], json!(id));
    // The same request under a new key is refused, with the balance that refused it.
    let again = alice
        .create_transfer("all-again", &from, &to, "50.00", "USD")
        .await?;
    assert_eq!(again["transfer"], json!(null));
    assert_eq!(again["userErrors"][0]["code"], "INSUFFICIENT_FUNDS");
    assert_eq!(
        again["userErrors"][0]["message"],
        "the available balance is 0.00"
    );
    assert_eq!(alice.balances(&from).await?.0, "0.00");
    assert_eq!(alice.balances(&to).await?.0, "50.00");
    Ok(())
}
