//! User B can neither see nor move user A's money; A's ids behave exactly like unknown ids.

use djinn_tests::spawn_app;
use serde_json::json;

#[tokio::test]
async fn another_users_ids_are_unknown_ids() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let bob = app.client("bob");
    let alices = alice
        .open_account("Alice checking", "USD", Some("100.00"))
        .await?;
    let alices_savings = alice.open_account("Alice savings", "USD", None).await?;
    let transfer = alice
        .create_transfer("t1", &alices, &alices_savings, "1.00", "USD")
        .await?;
    let transfer_id = transfer["transfer"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    alice.settled_transfer(&transfer_id).await?;
    let bobs = bob
        .open_account("Bob checking", "USD", Some("10.00"))
        .await?;

    let seen = bob
        .data(
            "query($a: ID!, $t: ID!) { accounts { edges { node { name } } } account(id: $a) { id } node(id: $a) { id }
               transfer(id: $t) { id } transferNode: node(id: $t) { id } operations { edges { node { kind } } } }",
            json!({"a": alices, "t": transfer_id}),
        )
        .await?;
    assert_eq!(
        seen["accounts"]["edges"],
        json!([{"node": {"name": "Bob checking"}}])
    );
    assert_eq!(seen["account"], json!(null));
    assert_eq!(seen["node"], json!(null));
    assert_eq!(seen["transfer"], json!(null));
    assert_eq!(seen["transferNode"], json!(null));
    assert_eq!(
        seen["operations"]["edges"].as_array().map(Vec::len),
        Some(1),
        "only Bob's own account opening"
    );

    // Moving Alice's money, or moving to her, reads exactly like an unknown account.
    let unknown = "QWNjb3VudDowMTkzYTBjNC04ZTJiLTdjYzEtOWMxZS0zYjVlOWQyZjFhMDA";
    for (from, to) in [(&alices, &bobs), (&bobs, &alices)] {
        let attempt = bob
            .create_transfer(&format!("steal-{from}"), from, to, "1.00", "USD")
            .await?;
        let unknown_attempt = bob
            .create_transfer(
                "unknown",
                if from == &alices { unknown } else { from },
                if to == &alices { unknown } else { to },
                "1.00",
                "USD",
            )
            .await?;
        assert_eq!(attempt["transfer"], json!(null));
        assert_eq!(attempt["userErrors"][0]["code"], "ACCOUNT_NOT_FOUND");
        assert_eq!(
            attempt["userErrors"][0]["message"],
            unknown_attempt["userErrors"][0]["message"]
        );
    }
    assert_eq!(alice.balances(&alices).await?.0, "99.00");
    assert_eq!(bob.balances(&bobs).await?.0, "10.00");
    Ok(())
}
