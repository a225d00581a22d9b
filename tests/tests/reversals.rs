//! Reversals, never edits: `reverseTransfer` posts a transfer the other way as a workflow of its
//! own; the original stays POSTED and gains `reversedBy`, the history keeps both entries, a
//! second reversal is refused (ALREADY_REVERSED), a retry with the key answers the same
//! reversal, and every refusal (funds, an unposted or unknown transfer, another user's, bad
//! input) writes nothing.

use djinn_tests::ledger_steps::postings;
use djinn_tests::{Client, spawn_app};
use serde_json::{Value, json};

const REVERSE: &str = r#"mutation($input: ReverseTransferInput!) {
  reverseTransfer(input: $input) {
    transfer { id status description reverses { id } fromAccount { id } toAccount { id } amount { amount } }
    userErrors { field code message }
  }
}"#;

async fn reverse(client: &Client, transfer: &str, key: &str, reason: Option<&str>) -> Value {
    let input = json!({"input": {"transferId": transfer, "idempotencyKey": key, "reason": reason}});
    client.data(REVERSE, input).await.expect("an answer")["reverseTransfer"].clone()
}

async fn posted(client: &Client, key: &str, from: &str, to: &str, amount: &str) -> String {
    let created = client
        .create_transfer(key, from, to, amount, "USD")
        .await
        .expect("an answer");
    let id = created["transfer"]["id"].as_str().expect("a transfer");
    let settled = client.settled_transfer(id).await.expect("settled");
    assert_eq!(settled["status"], "POSTED", "{settled}");
    id.to_owned()
}

fn code(payload: &Value) -> &str {
    payload["userErrors"][0]["code"].as_str().unwrap_or("none")
}

#[tokio::test]
async fn a_reversal_posts_the_other_way_once_and_the_original_stays_posted() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("100.00").await?;
    let original = posted(&alice, "rent", &checking, &savings, "30.00").await;

    let reversal = reverse(&alice, &original, "undo-rent", Some("wrong account")).await;
    assert_eq!(reversal["userErrors"], json!([]), "{reversal}");
    let made = &reversal["transfer"];
    assert_eq!(made["reverses"]["id"], original.as_str());
    assert_eq!(made["fromAccount"]["id"], savings.as_str());
    assert_eq!(made["toAccount"]["id"], checking.as_str());
    assert_eq!(made["description"], "wrong account");
    let reversal_id = made["id"].as_str().expect("an id").to_owned();
    assert_eq!(
        alice.settled_transfer(&reversal_id).await?["status"],
        "POSTED"
    );
    assert_eq!(alice.balances(&checking).await?.0, "100.00");
    assert_eq!(alice.balances(&savings).await?.0, "0.00");

    let read = alice
        .data(
            "query($id: ID!) { transfer(id: $id) { status reversedBy { id status } } }",
            json!({"id": original}),
        )
        .await?;
    assert_eq!(
        read["transfer"]["status"], "POSTED",
        "the original is never edited"
    );
    assert_eq!(read["transfer"]["reversedBy"]["id"], reversal_id.as_str());

    // The history shows both entries, the reversal as such.
    let history = alice
        .data(
            "query($id: ID!) { account(id: $id) { entries(first: 10) { edges { node { kind amount { amount } status } } } } }",
            json!({"id": checking}),
        )
        .await?;
    let kinds: Vec<(String, String)> = history["account"]["entries"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|edge| {
            let node = &edge["node"];
            (
                node["kind"].as_str().unwrap_or("").to_owned(),
                node["amount"]["amount"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("REVERSAL".to_owned(), "30.00".to_owned()),
            ("TRANSFER".to_owned(), "-30.00".to_owned()),
            ("OPENING".to_owned(), "100.00".to_owned()),
        ],
        "{history}"
    );

    // A retry with the key answers the same reversal; another key is refused; nothing moves.
    let moved = postings(&app.db).await?;
    let again = reverse(&alice, &original, "undo-rent", Some("wrong account")).await;
    assert_eq!(again["transfer"]["id"], reversal_id.as_str(), "{again}");
    let twice = reverse(&alice, &original, "undo-again", None).await;
    assert_eq!(code(&twice), "ALREADY_REVERSED", "{twice}");
    let reused = reverse(&alice, &original, "undo-rent", Some("another reason")).await;
    assert_eq!(code(&reused), "IDEMPOTENCY_KEY_REUSED", "{reused}");
    // A reversal is not reversed back.
    let back = reverse(&alice, &reversal_id, "undo-undo", None).await;
    assert_eq!(code(&back), "NOT_POSTED", "{back}");
    assert_eq!(postings(&app.db).await?, moved);
    let kind: String = sqlx::query_scalar(
        "SELECT t.kind FROM transactions t JOIN transfers r ON r.operation_id = t.id
          WHERE r.reverses_operation_id IS NOT NULL",
    )
    .fetch_one(&app.db)
    .await?;
    assert_eq!(kind, "reversal");
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn a_reversal_the_ledger_refuses_writes_nothing() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("100.00").await?;
    let original = posted(&alice, "pay", &checking, &savings, "50.00").await;
    // The money left savings: it cannot pay it back.
    posted(&alice, "spend", &savings, &checking, "45.00").await;

    let short = reverse(&alice, &original, "undo", None).await;
    assert_eq!(code(&short), "INSUFFICIENT_FUNDS", "{short}");

    // A transfer still awaiting approval has moved nothing to reverse.
    alice.set_approval_threshold(Some("1.00"), "USD").await?;
    let waiting = alice
        .create_transfer("waits", &checking, &savings, "2.00", "USD")
        .await?;
    let waiting = waiting["transfer"]["id"].as_str().expect("a transfer");
    assert_eq!(
        alice.settled_transfer(waiting).await?["status"],
        "AWAITING_APPROVAL"
    );
    let unposted = reverse(&alice, waiting, "undo-waiting", None).await;
    assert_eq!(code(&unposted), "NOT_POSTED", "{unposted}");
    let moved = postings(&app.db).await?;
    let not_found = reverse(&alice, &checking, "undo-account", None).await;
    assert_eq!(code(&not_found), "TRANSFER_NOT_FOUND", "{not_found}");
    let bobs = reverse(&app.client("bob"), &original, "undo-bob", None).await;
    assert_eq!(code(&bobs), "TRANSFER_NOT_FOUND", "{bobs}");
    let bad_key = reverse(&alice, &original, "no spaces", None).await;
    assert_eq!(code(&bad_key), "INVALID_IDEMPOTENCY_KEY", "{bad_key}");
    let bad_reason = reverse(&alice, &original, "undo-2", Some("\u{1}")).await;
    assert_eq!(code(&bad_reason), "INVALID_DESCRIPTION", "{bad_reason}");

    assert_eq!(postings(&app.db).await?, moved);
    let reversals: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM transfers WHERE reverses_operation_id IS NOT NULL",
    )
    .fetch_one(&app.db)
    .await?;
    assert_eq!(reversals, 0, "no refused reversal was registered");
    app.assert_ledger_consistent().await
}
