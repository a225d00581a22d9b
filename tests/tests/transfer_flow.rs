//! The slice end to end: GraphQL mutation -> Temporal workflow -> ledger rows -> GraphQL reads.

use djinn_tests::spawn_app;
use serde_json::json;
use temporalio_client::{WorkflowDescribeOptions, WorkflowFetchHistoryOptions};
use temporalio_common::protos::temporal::api::enums::v1::EventType;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;

#[tokio::test]
async fn a_transfer_moves_money_and_reads_back_everywhere() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("100.00").await?;
    assert_eq!(
        alice.balances(&checking).await?,
        ("100.00".into(), "100.00".into())
    );

    let payload = alice
        .create_transfer("rent-2026-11", &checking, &savings, "12.34", "USD")
        .await?;
    assert_eq!(payload["userErrors"], json!([]));
    let transfer = &payload["transfer"];
    assert_eq!(transfer["status"], "PENDING");
    assert_eq!(
        transfer["amount"],
        json!({"amount": "12.34", "currency": "USD"})
    );
    let workflow_id = transfer["workflowId"].as_str().expect("a workflow id");
    assert!(
        workflow_id.starts_with("transfer:") && workflow_id.ends_with(":rent-2026-11"),
        "{workflow_id}"
    );

    let id = transfer["id"].as_str().expect("an id");
    let settled = alice.settled_transfer(id).await?;
    assert_eq!(settled["status"], "POSTED");
    assert_eq!(
        alice.balances(&checking).await?,
        ("87.66".into(), "87.66".into())
    );
    assert_eq!(
        alice.balances(&savings).await?,
        ("12.34".into(), "12.34".into())
    );

    // The workflow's own view, through GraphQL (a Temporal query) and through Temporal.
    let data = alice
        .data("query($id: ID!) { transfer(id: $id) { workflowStatus fromAccount { name } toAccount { name } } }", json!({"id": id}))
        .await?;
    assert_eq!(
        data["transfer"],
        json!({"workflowStatus": "POSTED", "fromAccount": {"name": "Checking"}, "toAccount": {"name": "Savings"}})
    );
    let description = app
        .temporal
        .get_workflow_handle::<djinn_workflows::TransferWorkflow>(workflow_id)
        .describe(WorkflowDescribeOptions::default())
        .await?;
    let attributes = format!(
        "{:?}",
        description
            .raw()
            .workflow_execution_info
            .as_ref()
            .and_then(|info| info.search_attributes.clone())
    );
    assert!(
        attributes.contains("DjinnStatus") && attributes.contains("DjinnUserId"),
        "{attributes}"
    );
    // Staff read what the run is about in its memo (encrypted; see payload_encryption.rs).
    let uuid = |id: &str| {
        djinn_graphql::schema::ids::decode(id)
            .expect("a global id")
            .1
    };
    assert_eq!(
        description.memo().get::<String>("summary")?,
        Some(format!(
            "Transfer of 12.34 USD from account {} to account {}",
            uuid(&checking),
            uuid(&savings)
        ))
    );
    let opening: String = sqlx::query_scalar(
        "SELECT workflow_id FROM operations WHERE kind = 'open_account' ORDER BY id LIMIT 1",
    )
    .fetch_one(&app.db)
    .await?;
    let opening = app
        .temporal
        .get_workflow_handle::<djinn_workflows::OpenAccountWorkflow>(opening)
        .describe(WorkflowDescribeOptions::default())
        .await?;
    assert_eq!(
        opening.memo().get::<String>("summary")?,
        Some("Opening of checking account \"Checking\" with 100.00 USD".to_owned())
    );

    // The ledger read back: one transaction, two postings summing to zero, never editable.
    let transaction = djinn_graphql::schema::ids::decode(id)
        .expect("a transfer id")
        .1;
    let postings: Vec<(i64, String)> = sqlx::query_as("SELECT amount_minor, currency::text FROM postings WHERE transaction_id = $1 ORDER BY amount_minor")
        .bind(transaction)
        .fetch_all(&app.db)
        .await?;
    assert_eq!(
        postings,
        vec![(-1234, "USD".to_owned()), (1234, "USD".to_owned())]
    );
    let update = sqlx::query("UPDATE postings SET amount_minor = 1 WHERE transaction_id = $1")
        .bind(transaction)
        .execute(&app.db)
        .await;
    assert!(update.is_err(), "postings must be immutable");
    let delete = sqlx::query("DELETE FROM postings WHERE transaction_id = $1")
        .bind(transaction)
        .execute(&app.db)
        .await;
    assert!(delete.is_err(), "postings must be immutable");
    app.assert_ledger_consistent().await?;
    djinn_tests::replay_transfer(&app.temporal, workflow_id).await?;
    // The whole transfer is one workflow task: its one ledger step (reserve and post at once)
    // ran inside it as a local activity, and its deadline cost the history nothing.
    let history = app
        .temporal
        .get_workflow_handle::<djinn_workflows::TransferWorkflow>(workflow_id)
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .into_events()
        .await?;
    let events: Vec<EventType> = history.iter().map(|event| event.event_type()).collect();
    assert_eq!(
        events,
        [
            EventType::WorkflowExecutionStarted,
            EventType::WorkflowTaskScheduled,
            EventType::WorkflowTaskStarted,
            EventType::WorkflowTaskCompleted,
            EventType::MarkerRecorded,
            EventType::UpsertWorkflowSearchAttributes,
            EventType::WorkflowExecutionCompleted,
        ]
    );
    // Started eagerly: the server started the task within the API's start request (so the
    // starter's identity is on it) and the API's own worker completed it. A task dispatched
    // to a worker's poll carries the poller's identity instead.
    let identities: Vec<&str> = history
        .iter()
        .filter_map(|event| match &event.attributes {
            Some(Attributes::WorkflowTaskStartedEventAttributes(started)) => {
                Some(started.identity.as_str())
            }
            Some(Attributes::WorkflowTaskCompletedEventAttributes(completed)) => {
                Some(completed.identity.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(identities, ["djinn-test-api", "djinn-test-api/workflows"]);

    // Lists are served from Postgres: two account openings and the transfer, newest first.
    let data = alice.data("{ me { id } operations(first: 10) { edges { node { kind status transfer { id } } } } }", json!({})).await?;
    let kinds: Vec<_> = data["operations"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["kind"].clone())
        .collect();
    assert_eq!(
        kinds,
        vec![
            json!("TRANSFER"),
            json!("OPEN_ACCOUNT"),
            json!("OPEN_ACCOUNT")
        ]
    );
    assert_eq!(data["operations"]["edges"][0]["node"]["status"], "POSTED");
    let only_transfers = alice
        .data(
            "{ operations(kind: TRANSFER) { edges { node { kind } } } }",
            json!({}),
        )
        .await?;
    assert_eq!(
        only_transfers["operations"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let node = alice
        .data(
            "query($id: ID!) { node(id: $id) { id ... on Transfer { status } } }",
            json!({"id": id}),
        )
        .await?;
    assert_eq!(node["node"]["status"], "POSTED");
    Ok(())
}

#[tokio::test]
async fn accounts_page_with_relay_cursors() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let mut opened = Vec::new();
    for name in ["One", "Two", "Three"] {
        opened.push(alice.open_account(name, "EUR", None).await?);
    }
    let query = "query($after: String) { accounts(first: 2, after: $after) { edges { cursor node { id name currency } } pageInfo { hasNextPage } } }";
    let first = alice.data(query, json!({"after": null})).await?;
    let edges = first["accounts"]["edges"]
        .as_array()
        .expect("edges")
        .clone();
    assert_eq!(edges.len(), 2);
    assert_eq!(first["accounts"]["pageInfo"]["hasNextPage"], true);
    let second = alice
        .data(query, json!({"after": edges[1]["cursor"]}))
        .await?;
    assert_eq!(
        second["accounts"]["edges"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(second["accounts"]["pageInfo"]["hasNextPage"], false);
    let seen: Vec<_> = edges
        .iter()
        .chain(second["accounts"]["edges"].as_array().expect("edges"))
        .map(|e| e["node"]["id"].clone())
        .collect();
    assert_eq!(seen, opened.iter().map(|id| json!(id)).collect::<Vec<_>>());
    // The cap: asking for more than 100 returns at most 100, and the opening-balance equity
    // account never shows up in the list.
    let capped = alice
        .data(
            "{ accounts(first: 1000) { edges { node { name } } } }",
            json!({}),
        )
        .await?;
    assert_eq!(
        capped["accounts"]["edges"].as_array().map(Vec::len),
        Some(3)
    );
    Ok(())
}

/// A failure is shown to the user as its code and the code's stable text, never as the words
/// it was recorded with (which may be an internal error's: a host, a database message).
#[tokio::test]
async fn a_failure_reads_as_its_codes_text_not_an_internal_error() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("100.00").await?;
    let user = djinn_store::users::ensure_user(&app.db, "alice").await?;
    let transfer = djinn_domain::OperationId::generate();
    let usd = djinn_domain::Currency::parse("USD")?;
    let request = djinn_domain::TransferRequest::new(
        djinn_tests::account_id(&checking),
        djinn_tests::account_id(&savings),
        djinn_domain::Money::from_minor(100, usd),
        None,
    )?;
    djinn_tests::ledger_steps::register_transfer(&app.db, user, transfer, &request).await?;
    let internal = "database error: connection to 10.1.2.3:5432 refused";
    djinn_ledger::void_transfer(&app.db, transfer, user, "k", "LEDGER_STEP_FAILED", internal)
        .await?;
    let id = djinn_graphql::schema::ids::encode(
        djinn_graphql::schema::ids::NodeType::Transfer,
        transfer.as_uuid(),
    );
    let read = alice
        .data(
            "query($id: ID!) { transfer(id: $id) { status failureCode failureMessage } }",
            json!({"id": id.to_string()}),
        )
        .await?;
    assert_eq!(read["transfer"]["status"], "VOIDED");
    assert_eq!(read["transfer"]["failureCode"], "LEDGER_STEP_FAILED");
    assert_eq!(
        read["transfer"]["failureMessage"],
        djinn_domain::RejectionCode::LedgerStepFailed.message()
    );
    Ok(())
}
