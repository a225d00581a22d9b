//! An account opening never stays stuck. A run that ended without opening the account
//! (terminated by staff in the Temporal UI, or failed) is replaced when the client repeats the
//! request with the same idempotency key, as the API tells it to. A database that stays
//! unreachable for longer than the local attempt does not fail the run: it continues as a
//! regular activity and opens the account once the database is back, even when no worker lives
//! as long as the local attempt's deadline.

use anyhow::Context;
use djinn_tests::{NewAccount, OPEN_ACCOUNT, TestApp, WorkerThread, spawn_api, spawn_app};
use djinn_workflows::OpenAccountWorkflow;
use serde_json::{Value, json};
use std::time::Duration;
use temporalio_client::{
    WorkflowFetchHistoryOptions, WorkflowGetResultOptions, WorkflowHandle, WorkflowTerminateOptions,
};
use temporalio_common::protos::temporal::api::enums::v1::EventType;

const OPEN: &str = OPEN_ACCOUNT;

/// The input of an opening with `opening` as its balance under `key`, as the tests repeat it.
fn opening_input(key: &str, name: &str, kind: &str, currency: &str, opening: &str) -> Value {
    let account = NewAccount::new(name, currency)
        .kind(kind)
        .idempotency_key(key)
        .opening_balance(opening);
    json!({"input": account.input()})
}

#[tokio::test]
async fn a_repeat_after_a_terminated_run_opens_the_account_once() -> anyhow::Result<()> {
    // No worker yet: the first run cannot make progress.
    let app = spawn_api().await?;
    let alice = app.client("alice");
    let input = opening_input("savings-1", "Savings", "SAVINGS", "EUR", "10.00");

    let first = alice.graphql(OPEN, input.clone()).await?;
    assert!(
        told_to_repeat(&first),
        "the client is told to repeat: {first}"
    );
    // Only a request with a key is told to repeat it: without one, a repeat opens another.
    let keyless = NewAccount::new("Wallet", "EUR").send_raw(&alice).await?;
    assert!(keyless["errors"].is_array(), "{keyless}");
    assert!(!told_to_repeat(&keyless), "{keyless}");
    let (workflow_id, status) = opening(&app, "savings-1").await?.context("registered")?;
    assert_eq!(status, "pending");
    // The key is taken by that request, even before anything is opened: another body is
    // refused at once, before and after the run ends.
    let mut other = input.clone();
    other["input"]["overdraftLimit"] = json!({"amount": "50.00", "currency": "EUR"});
    let reused = alice.data(OPEN, other.clone()).await?;
    assert_eq!(
        reused["openAccount"]["userErrors"][0]["code"], "IDEMPOTENCY_KEY_REUSED",
        "{reused}"
    );

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
    let reused = alice.data(OPEN, other).await?;
    assert_eq!(
        reused["openAccount"]["userErrors"][0]["code"], "IDEMPOTENCY_KEY_REUSED",
        "{reused}"
    );

    // The client repeats, as told, until it gets its account (the new run may take longer
    // than the API's wait on a busy machine).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let second = loop {
        let body = alice.graphql(OPEN, input.clone()).await?;
        if !body["data"]["openAccount"]["account"].is_null() {
            break body["data"].clone();
        }
        assert!(
            told_to_repeat(&body) && tokio::time::Instant::now() < deadline,
            "the repeat opens the account: {body}"
        );
    };
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
    assert_opened_once(&app, "savings", "savings-1").await?;
    app.assert_ledger_consistent().await?;
    Ok(())
}

#[tokio::test]
async fn an_opening_outlasts_a_database_outage_longer_than_its_local_attempt() -> anyhow::Result<()>
{
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let input = opening_input("checking-1", "Checking", "CHECKING", "USD", "25.00");

    // The opening entry cannot be written while this transaction holds the postings table: every
    // attempt waits for its lock timeout (`djinn_lock_timeout()`) and fails, for longer than the
    // 10 s local attempt.
    let outage = app.lock_postings().await?;
    let first = alice.graphql(OPEN, input.clone()).await?;
    assert!(
        told_to_repeat(&first),
        "the client is told to repeat: {first}"
    );
    let (workflow_id, _) = opening(&app, "checking-1").await?.context("registered")?;
    // The outage lasts until the local attempt has given up and the step continued as a
    // regular activity (how long that takes depends on when the worker picked the run up).
    let handle = app
        .temporal
        .get_workflow_handle::<OpenAccountWorkflow>(workflow_id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let events = loop {
        let events = event_types(&handle).await?;
        if events.contains(&EventType::ActivityTaskScheduled)
            || events.contains(&EventType::WorkflowExecutionFailed)
            || tokio::time::Instant::now() > deadline
        {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    outage.commit().await?;
    assert!(
        events.contains(&EventType::ActivityTaskScheduled),
        "the step continued as a regular activity"
    );

    // The run ends well: the regular activity opened the account once the lock was gone.
    tokio::time::timeout(
        Duration::from_secs(60),
        handle.get_result(WorkflowGetResultOptions::default()),
    )
    .await??;
    let opened = alice.data(OPEN, input).await?;
    let id = opened["openAccount"]["account"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("the account is open: {opened}"));
    assert_eq!(app.balance_minor(id).await?, (2_500, 0));
    let (_, status) = opening(&app, "checking-1").await?.context("registered")?;
    assert_eq!(status, "completed");
    app.assert_ledger_consistent().await?;
    Ok(())
}

#[tokio::test]
async fn an_opening_moves_on_though_every_worker_dies_before_its_local_deadline()
-> anyhow::Result<()> {
    // A worker that replays a run (it replaced a dead one, evicted the run from its cache, or
    // got a workflow task that timed out on a busy machine) schedules the local attempt again,
    // with its whole schedule-to-close timeout ahead. The step must give up all the same, or a
    // step that fails through an outage would retry locally for as long as replays keep coming.
    let app = spawn_api().await?;
    let alice = app.client("alice");
    let input = opening_input("cash-1", "Cash", "CASH", "USD", "40.00");
    let outage = app.lock_postings().await?;
    let mut worker = app.worker_process(&[])?;
    let first = tokio::spawn({
        let (alice, input) = (alice.clone(), input.clone());
        async move { alice.graphql(OPEN, input).await }
    });

    // The operation is registered before its workflow is started: wait for both.
    let handle = loop {
        if let Some((workflow_id, _)) = opening(&app, "cash-1").await? {
            let handle = app
                .temporal
                .get_workflow_handle::<OpenAccountWorkflow>(workflow_id);
            if handle
                .describe(temporalio_client::WorkflowDescribeOptions::default())
                .await
                .is_ok()
            {
                break handle;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The first worker heartbeats its workflow task while the step keeps failing (at 8 s, before
    // the 10 s local deadline): from then on the step's deadline timer is in the history.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !has_event(&handle, EventType::WorkflowTaskCompleted).await? {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first worker heartbeats"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // From here on, every worker is killed 5 s after it started: none lives for the 10 s of a
    // deadline that would start over with it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !has_event(&handle, EventType::ActivityTaskScheduled).await? {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the step continued as a regular activity although its workers kept dying: {:?}",
            event_types(&handle).await?
        );
        worker.kill().await?;
        worker = app.worker_process(&[])?;
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    outage.commit().await?;

    // The last worker lives: the regular activity opens the account, once.
    tokio::time::timeout(
        Duration::from_secs(60),
        handle.get_result(WorkflowGetResultOptions::default()),
    )
    .await??;
    let told = first.await??;
    assert!(
        told_to_repeat(&told),
        "the first request was told to repeat: {told}"
    );
    let opened = alice.data(OPEN, input).await?;
    let id = opened["openAccount"]["account"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("the account is open: {opened}"));
    assert_eq!(app.balance_minor(id).await?, (4_000, 0));
    assert_opened_once(&app, "cash", "cash-1").await?;
    app.assert_ledger_consistent().await?;
    Ok(())
}

/// Whether the API told the client to repeat its request: the run did not answer in time.
fn told_to_repeat(body: &Value) -> bool {
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("repeat the request")
}

/// The workflow id and status of the opening registered under `key`, once it is.
async fn opening(app: &TestApp, key: &str) -> anyhow::Result<Option<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT workflow_id, status FROM operations WHERE kind = 'open_account' AND idempotency_key = $1",
    )
    .bind(key)
    .fetch_optional(&app.db)
    .await?)
}

/// Exactly one account of `kind` exists, and the opening under `key` completed.
async fn assert_opened_once(app: &TestApp, kind: &str, key: &str) -> anyhow::Result<()> {
    let opened: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts WHERE kind::text = $1")
        .bind(kind)
        .fetch_one(&app.db)
        .await?;
    let (_, status) = opening(app, key).await?.context("registered")?;
    assert_eq!((opened, status.as_str()), (1, "completed"));
    Ok(())
}

async fn has_event(
    handle: &WorkflowHandle<temporalio_client::Client, OpenAccountWorkflow>,
    kind: EventType,
) -> anyhow::Result<bool> {
    Ok(event_types(handle).await?.contains(&kind))
}

async fn event_types(
    handle: &WorkflowHandle<temporalio_client::Client, OpenAccountWorkflow>,
) -> anyhow::Result<Vec<EventType>> {
    let events = handle
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .into_events()
        .await?;
    Ok(events.iter().map(|event| event.event_type()).collect())
}
