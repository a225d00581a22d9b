//! An account opening whose workflow run ended without opening the account (terminated by staff
//! in the Temporal UI, or failed) is not stuck: the client repeats the request with the same
//! idempotency key, as the API tells it to, and a new run opens the account, once.

use djinn_tests::{WorkerThread, spawn_api};
use djinn_workflows::OpenAccountWorkflow;
use serde_json::json;
use temporalio_client::WorkflowTerminateOptions;

const OPEN: &str = "mutation($input: OpenAccountInput!) {
    openAccount(input: $input) { account { id balance { amount currency } } userErrors { code message } } }";

#[tokio::test]
async fn a_repeat_after_a_terminated_run_opens_the_account_once() -> anyhow::Result<()> {
    // No worker yet: the first run cannot make progress.
    let app = spawn_api().await?;
    let alice = app.client("alice");
    let input = json!({"input": {"idempotencyKey": "savings-1", "name": "Savings", "kind": "SAVINGS",
                                 "currency": "EUR", "openingBalance": {"amount": "10.00", "currency": "EUR"}}});

    let first = alice.graphql(OPEN, input.clone()).await?;
    let message = first["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("repeat the request"),
        "the client is told to repeat: {first}"
    );
    let (workflow_id, status): (String, String) = sqlx::query_as(
        "SELECT workflow_id, status FROM operations WHERE kind = 'open_account' AND idempotency_key = 'savings-1'",
    )
    .fetch_one(&app.db)
    .await?;
    assert_eq!(status, "pending");

    // Staff end the stuck run; then a worker comes back.
    app.temporal
        .get_workflow_handle::<OpenAccountWorkflow>(workflow_id)
        .terminate(
            WorkflowTerminateOptions::builder()
                .reason("test: a run that ended without opening the account".to_owned())
                .build(),
        )
        .await?;
    let _worker = WorkerThread::start(&app.database_url, &app.task_queue);

    let second = alice.data(OPEN, input.clone()).await?;
    let account = second["openAccount"]["account"].clone();
    let id = account["id"]
        .as_str()
        .unwrap_or_else(|| panic!("the repeat opened the account: {second}"));
    assert_eq!(
        account["balance"],
        json!({"amount": "10.00", "currency": "EUR"})
    );
    assert_eq!(app.balance_minor(id).await?, (1_000, 0));

    // Once more: the same account, nothing new.
    let third = alice.data(OPEN, input).await?;
    assert_eq!(third["openAccount"]["account"]["id"], json!(id));
    let (opened, status): (i64, String) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM accounts WHERE kind = 'savings'), status
           FROM operations WHERE kind = 'open_account' AND idempotency_key = 'savings-1'",
    )
    .fetch_one(&app.db)
    .await?;
    assert_eq!((opened, status.as_str()), (1, "completed"));
    app.assert_ledger_consistent().await?;
    Ok(())
}
