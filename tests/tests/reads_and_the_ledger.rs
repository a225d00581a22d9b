//! Reads cannot starve the ledger: the api's worker moves money through a pool of its own, so a
//! flood of reads that takes every connection of the GraphQL pool leaves its ledger steps
//! alone; and `Transfer.workflowStatus` (a Temporal query, a replay for a closed run) is priced
//! so that one request asks it of one transfer, not of a list.

use anyhow::Context;
use djinn_domain::{Currency, Money, OperationId, TransferRequest};
use djinn_store::users;
use djinn_tests::{account_id, spawn_api_running_workflows, spawn_app};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_transfer_posts_while_reads_hold_every_graphql_connection() -> anyhow::Result<()> {
    // Every workflow runs on the api's worker: nothing else could take the ledger step.
    let app = spawn_api_running_workflows().await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("100.00").await?;
    let user = users::ensure_user(&app.db, "alice").await?;

    // The worst flood of reads: every connection of the GraphQL pool taken and held.
    let size = app.api_pool.options().get_max_connections();
    let mut held = Vec::new();
    for _ in 0..size {
        held.push(app.api_pool.acquire().await?);
    }
    let transfer = OperationId::generate();
    let amount = Money::from_minor(2_500, Currency::parse("USD")?);
    let request = TransferRequest::new(account_id(&checking), account_id(&savings), amount, None)?;
    app.start_transfer_workflow(user, transfer, "during-the-flood", request)
        .await?;

    // While the connections are held, a step that waited for a GraphQL connection could never
    // post (it would time out acquiring, retry, and time out again): any bound shows it.
    let started = Instant::now();
    let status = loop {
        let status: String = sqlx::query_scalar("SELECT status FROM operations WHERE id = $1")
            .bind(transfer.as_uuid())
            .fetch_one(&app.db)
            .await?;
        if status != "pending" || started.elapsed() > Duration::from_secs(30) {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, "posted", "the step waited for the readers' pool");
    drop(held);
    assert_eq!(alice.balances(&savings).await?.0, "25.00");
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn workflow_status_is_asked_of_one_transfer_per_request() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("100.00").await?;
    let mut ids = Vec::new();
    for key in ["a", "b"] {
        let payload = alice
            .create_transfer(key, &checking, &savings, "1.00", "USD")
            .await?;
        ids.push(
            payload["transfer"]["id"]
                .as_str()
                .context("a transfer")?
                .to_owned(),
        );
        alice.settled_transfer(&ids[ids.len() - 1]).await?;
    }
    let one = alice
        .data(
            "query($id: ID!) { transfer(id: $id) { workflowStatus } }",
            json!({"id": ids[0]}),
        )
        .await?;
    assert_eq!(one["transfer"]["workflowStatus"], "POSTED");
    // Two at once (aliases), or any list of them, is refused before anything runs.
    let two = alice
        .graphql(
            "query($a: ID!, $b: ID!) { a: transfer(id: $a) { workflowStatus } b: transfer(id: $b) { workflowStatus } }",
            json!({"a": ids[0], "b": ids[1]}),
        )
        .await?;
    let refused = two["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(refused.contains("complex"), "{two}");
    Ok(())
}

/// A page of operations asks each for its transfer, and each transfer for its two accounts:
/// read one by one, that is a query per item. The resolvers batch them (a DataLoader per
/// request): one query per level, counted by pg_stat_statements (`make test` loads it).
#[tokio::test]
async fn a_page_reads_its_transfers_and_accounts_in_batches() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("100.00").await?;
    const TRANSFERS: usize = 12;
    for i in 0..TRANSFERS {
        let payload = alice
            .create_transfer(&format!("t{i}"), &checking, &savings, "1.00", "USD")
            .await?;
        let id = payload["transfer"]["id"].as_str().context("a transfer")?;
        alice.settled_transfer(id).await?;
    }
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(&app.db)
        .await
        .context("pg_stat_statements must be loaded (scripts/test.sh loads it)")?;
    sqlx::query("SELECT pg_stat_statements_reset()")
        .execute(&app.db)
        .await?;

    let page = alice
        .data(
            "{ operations(first: 50) { nodes { transfer { fromAccount { id } toAccount { id } } } } }",
            json!({}),
        )
        .await?;
    let nodes = page["operations"]["nodes"].as_array().context("a page")?;
    let transfers: Vec<_> = nodes.iter().filter(|n| !n["transfer"].is_null()).collect();
    assert_eq!(transfers.len(), TRANSFERS);
    assert!(
        transfers
            .iter()
            .all(|n| n["transfer"]["toAccount"]["id"] == json!(savings))
    );

    let calls = |fragment: &'static str| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
                  WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                    AND query LIKE '%' || $1 || '%'",
            )
            .bind(fragment)
            .fetch_one(&db)
            .await
        }
    };
    let account_reads = calls("JOIN account_balances b ON b.account_id = a.id").await?;
    let transfer_reads = calls("JOIN transfers t ON t.operation_id = o.id").await?;
    assert!(
        account_reads <= 2,
        "{account_reads} account queries for {TRANSFERS} transfers"
    );
    assert!(
        transfer_reads <= 2,
        "{transfer_reads} transfer queries for {TRANSFERS} operations"
    );
    Ok(())
}
