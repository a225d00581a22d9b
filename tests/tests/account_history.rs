//! An account's history (`Account.entries`): every posting of the account as a `LedgerEntry`,
//! newest activity first, with the balance after each posted one; keyset pages both ways that
//! stay right while entries are added; pending and voided entries; another user's entries
//! invisible; and `djinn ledger verify` green.

use djinn_domain::{OperationId, UserId};
use djinn_ledger as ledger;
use djinn_store::users;
use djinn_tests::ledger_steps::{register_transfer, usd_transfer};
use djinn_tests::{Client, account_id, spawn_app};
use serde_json::{Value, json};

const HISTORY: &str = r#"query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  account(id: $id) {
    balance { amount }
    availableBalance { amount }
    entries(first: $first, after: $after, last: $last, before: $before) {
      edges { cursor node {
        id amount { amount currency } balanceAfter { amount } status kind description postedAt
        counterpartyAccount { id } operation { id kind }
      } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}"#;

async fn history(client: &Client, account: &str, page: Value) -> anyhow::Result<Value> {
    let mut variables = json!({"id": account});
    if let (Some(into), Some(page)) = (variables.as_object_mut(), page.as_object()) {
        into.extend(page.clone());
    }
    Ok(client.data(HISTORY, variables).await?["account"].clone())
}

fn nodes(account: &Value) -> Vec<Value> {
    account["entries"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|edge| edge["node"].clone())
        .collect()
}

fn amounts(account: &Value) -> Vec<String> {
    nodes(account)
        .iter()
        .map(|node| node["amount"]["amount"].as_str().unwrap_or("?").to_owned())
        .collect()
}

#[tokio::test]
async fn history_reads_newest_first_with_running_balances() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (from, to) = alice.checking_and_savings("100.00").await?;
    for (key, amount) in [("h-1", "25.00"), ("h-2", "10.00")] {
        let created = alice
            .create_transfer(key, &from, &to, amount, "USD")
            .await?;
        let id = created["transfer"]["id"].as_str().expect("a transfer");
        alice.settled_transfer(id).await?;
    }

    let checking = history(&alice, &from, json!({})).await?;
    assert_eq!(amounts(&checking), ["-10.00", "-25.00", "100.00"]);
    let entries = nodes(&checking);
    let after: Vec<&str> = entries
        .iter()
        .map(|e| e["balanceAfter"]["amount"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(after, ["65.00", "75.00", "100.00"]);
    assert_eq!(
        entries[0]["balanceAfter"], checking["balance"],
        "the newest posted entry shows the balance"
    );
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(kinds, ["TRANSFER", "TRANSFER", "OPENING"]);
    assert!(
        entries
            .iter()
            .all(|e| e["status"] == "POSTED" && e["postedAt"].is_string())
    );
    assert_eq!(entries[0]["counterpartyAccount"]["id"], json!(to));
    assert!(
        entries[2]["counterpartyAccount"].is_null(),
        "the books' equity is not shown"
    );
    assert_eq!(entries[0]["operation"]["kind"], "TRANSFER");
    assert_eq!(entries[2]["operation"]["kind"], "OPEN_ACCOUNT");
    assert_eq!(
        amounts(&history(&alice, &to, json!({})).await?),
        ["10.00", "25.00"]
    );

    // The same entry by its global id; another user sees neither it nor the account.
    let node = alice
        .data(
            "query($id: ID!) { node(id: $id) { ... on LedgerEntry { amount { amount } } } }",
            json!({"id": entries[0]["id"]}),
        )
        .await?;
    assert_eq!(node["node"]["amount"]["amount"], "-10.00");
    let mallory = app.client("mallory");
    let foreign = mallory
        .data(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": entries[0]["id"]}),
        )
        .await?;
    assert!(foreign["node"].is_null(), "{foreign}");
    assert!(history(&mallory, &from, json!({})).await?.is_null());
    // The history is read only to the application: only the ledger's triggers write it.
    let user = users::ensure_user(&app.db, "alice").await?;
    let mut tx = djinn_store::session::begin_as(&app.db, user).await?;
    let rewritten = sqlx::query("UPDATE account_entries SET balance_after_minor = 0")
        .execute(&mut *tx)
        .await;
    assert!(
        rewritten.is_err_and(|e| e.to_string().contains("permission denied")),
        "the app role may not rewrite history"
    );
    drop(tx);
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn pages_are_keyset_and_stay_right_while_entries_are_added() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (from, to) = alice.checking_and_savings("100.00").await?;
    for (key, amount) in [("p-1", "1.00"), ("p-2", "2.00"), ("p-3", "3.00")] {
        let created = alice
            .create_transfer(key, &from, &to, amount, "USD")
            .await?;
        alice
            .settled_transfer(created["transfer"]["id"].as_str().expect("an id"))
            .await?;
    }
    let first = history(&alice, &from, json!({"first": 2})).await?;
    assert_eq!(amounts(&first), ["-3.00", "-2.00"]);
    assert_eq!(first["entries"]["pageInfo"]["hasNextPage"], true);
    // A transfer lands while the client pages: the next page neither repeats nor skips.
    let created = alice
        .create_transfer("p-4", &from, &to, "4.00", "USD")
        .await?;
    alice
        .settled_transfer(created["transfer"]["id"].as_str().expect("an id"))
        .await?;
    let cursor = first["entries"]["pageInfo"]["endCursor"].clone();
    let second = history(&alice, &from, json!({"first": 2, "after": cursor})).await?;
    assert_eq!(amounts(&second), ["-1.00", "100.00"]);
    assert_eq!(second["entries"]["pageInfo"]["hasNextPage"], false);
    // Backwards: the newest entries before the second page's first.
    let start = second["entries"]["pageInfo"]["startCursor"].clone();
    let newer = history(&alice, &from, json!({"last": 2, "before": start})).await?;
    assert_eq!(amounts(&newer), ["-3.00", "-2.00"]);
    assert_eq!(newer["entries"]["pageInfo"]["hasPreviousPage"], true);
    let oldest = history(&alice, &from, json!({"last": 1})).await?;
    assert_eq!(amounts(&oldest), ["100.00"]);
    // Bad pages are refused with a clear error.
    for (page, error) in [
        (json!({"first": 1, "last": 1}), "not both"),
        (json!({"first": -1}), "must not be negative"),
        (json!({"after": "bm90LWEtY3Vyc29y"}), "invalid cursor"),
    ] {
        let mut variables = json!({"id": from});
        if let (Some(into), Some(page)) = (variables.as_object_mut(), page.as_object()) {
            into.extend(page.clone());
        }
        let answer = alice.graphql(HISTORY, variables).await?;
        let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(error), "{page}: {answer}");
    }
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn a_reservation_shows_pending_then_posted_on_top() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (from, to) = alice.checking_and_savings("100.00").await?;
    let user: UserId = users::ensure_user(&app.db, "alice").await?;
    let (mut reserved, from_id, to_id) = (Vec::new(), account_id(&from), account_id(&to));
    for (key, minor) in [("held", 3_000), ("released", 500)] {
        let transfer = OperationId::generate();
        let request = usd_transfer(from_id, to_id, minor)?;
        register_transfer(&app.db, user, transfer, &request).await?;
        ledger::reserve_transfer(&app.db, transfer, user, key, "wf", &request).await?;
        reserved.push(transfer);
    }
    let (held, released) = (reserved[0], reserved[1]);

    let pending = history(&alice, &from, json!({})).await?;
    assert_eq!(amounts(&pending), ["-5.00", "-30.00", "100.00"]);
    assert_eq!(nodes(&pending)[0]["status"], "PENDING");
    assert!(nodes(&pending)[0]["balanceAfter"].is_null());
    assert_eq!(pending["availableBalance"]["amount"], "65.00");

    ledger::void_transfer(
        &app.db,
        released,
        user,
        "released",
        "CANCELLED",
        "changed my mind",
    )
    .await?;
    ledger::post_transfer(&app.db, held, user).await?;
    let settled = history(&alice, &from, json!({})).await?;
    assert_eq!(
        amounts(&settled),
        ["-30.00", "-5.00", "100.00"],
        "posting moves it to the top"
    );
    let statuses: Vec<String> = nodes(&settled)
        .iter()
        .map(|e| e["status"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(statuses, ["POSTED", "VOIDED", "POSTED"]);
    assert_eq!(nodes(&settled)[0]["balanceAfter"]["amount"], "70.00");
    assert_eq!(nodes(&settled)[0]["balanceAfter"], settled["balance"]);
    assert!(nodes(&settled)[1]["balanceAfter"].is_null());
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn a_page_is_read_from_the_index_in_order() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let mut tx = app.db.begin().await?;
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await?;
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT posting_id FROM account_entries
          WHERE account_id = '0190e0c0-0000-7000-8000-000000000001' AND position < 1000 ORDER BY position DESC LIMIT 51",
    )
    .fetch_all(&mut *tx)
    .await?;
    let plan = plan.join("\n");
    assert!(plan.contains("Index Scan Backward"), "{plan}");
    assert!(
        !plan.contains("Sort"),
        "no sort: the index gives the order\n{plan}"
    );
    Ok(())
}
