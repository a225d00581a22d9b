//! A worker (or an API, which runs the transfers it starts) killed in the middle of a
//! transfer: the workflow resumes on a new worker and the ledger ends with exactly one posting
//! pair. The chaos switch aborts the process right after a ledger step committed and before
//! Temporal heard of it: the step runs again on the new worker and must change nothing. And
//! when the workflow gave up on a step whose answer was lost, its void finds the money moved
//! and the transfer ends POSTED.

use djinn_domain::{Currency, Money, OperationId, TransferRequest};
use djinn_ledger as ledger;
use djinn_store::users;
use djinn_tests::ledger_steps::register_transfer;
use djinn_tests::{Client, TestApp, WorkerThread, account_id, spawn_api, spawn_app};
use djinn_workflows::{TransferOutcome, TransferStatus, TransferWorkflow};
use std::time::Duration;
use temporalio_client::{WorkflowFetchHistoryOptions, WorkflowGetResultOptions};
use temporalio_common::protos::temporal::api::enums::v1::EventType;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;

/// Alice's checking account with 100.00 USD and her empty savings account, opened by a worker
/// that is then stopped, so that the next workflow task goes to the process the test kills.
async fn two_accounts(app: &TestApp, alice: &Client) -> anyhow::Result<(String, String)> {
    app.accounts_then_no_worker(alice, "100.00").await
}

/// The transfer `id` of 25.00 from `from` to `to` moved the money once: one posting pair, the
/// balances it leaves, and a ledger that agrees with itself.
async fn assert_moved_once(app: &TestApp, id: &str, from: &str, to: &str) -> anyhow::Result<()> {
    let transaction = djinn_graphql::schema::ids::decode(id)
        .expect("a transfer id")
        .1;
    let postings: i64 =
        sqlx::query_scalar("SELECT count(*) FROM postings WHERE transaction_id = $1")
            .bind(transaction)
            .fetch_one(&app.db)
            .await?;
    assert_eq!(postings, 2, "exactly one posting pair");
    assert_eq!(app.balance_minor(from).await?, (7_500, 0));
    assert_eq!(app.balance_minor(to).await?, (2_500, 0));
    app.assert_ledger_consistent().await
}

async fn crash_after(step: &str, key: &str) -> anyhow::Result<()> {
    let app = spawn_api().await?;
    let alice = app.client("alice");
    let (from, to) = two_accounts(&app, &alice).await?;

    let mut doomed = app.worker_process(&[(djinn_activities::chaos::CHAOS_ENV, step)])?;
    let payload = alice
        .create_transfer(key, &from, &to, "25.00", "USD")
        .await?;
    let id = payload["transfer"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let status = tokio::time::timeout(Duration::from_secs(60), doomed.wait()).await??;
    assert!(!status.success(), "the worker must have died mid-transfer");
    let transaction = djinn_graphql::schema::ids::decode(&id)
        .expect("a transfer id")
        .1;
    let committed: String = sqlx::query_scalar("SELECT status FROM transactions WHERE id = $1")
        .bind(transaction)
        .fetch_one(&app.db)
        .await?;
    assert_eq!(committed, "posted", "the step committed before the crash");

    let _survivor = WorkerThread::start(&app.database_url, &app.task_queue);
    let settled = alice.settled_transfer(&id).await?;
    assert_eq!(settled["status"], "POSTED");
    assert_moved_once(&app, &id, &from, &to).await
}

#[tokio::test]
async fn a_worker_killed_after_the_money_moved_does_not_move_it_twice() -> anyhow::Result<()> {
    crash_after("reserve_and_post_transfer", "crash-moved").await
}

/// The API runs the transfers it starts (their first workflow task comes back with the start):
/// a `djinn api` killed right after such a transfer's ledger step committed loses the task and
/// perhaps its answer to the client. The client repeats the request with its key and gets the
/// same transfer; the task times out, a worker replays it, the step finds its work done, and
/// the ledger holds one posting pair.
#[tokio::test]
async fn an_api_killed_after_its_transfer_moved_the_money_does_not_move_it_twice()
-> anyhow::Result<()> {
    let app = spawn_api().await?;
    let alice = app.client("alice");
    let (mut doomed, address) = app
        .api_process(&[(
            djinn_activities::chaos::CHAOS_ENV,
            "reserve_and_post_transfer",
        )])
        .await?;
    let doomed_alice = Client {
        address,
        ..alice.clone()
    };
    // No other worker is up, so the doomed api runs the openings: its worker is ready by the
    // time it starts the transfer (one that is still starting up takes no eager task).
    let from = doomed_alice
        .open_account("Checking", "USD", Some("100.00"))
        .await?;
    let to = doomed_alice.open_account("Savings", "USD", None).await?;
    // The process may die before or after it answers; either way the client repeats.
    let _maybe_answered = doomed_alice
        .create_transfer("crash-api", &from, &to, "25.00", "USD")
        .await;
    let status = tokio::time::timeout(Duration::from_secs(60), doomed.wait()).await??;
    assert!(!status.success(), "the api must have died mid-transfer");

    let _survivor = WorkerThread::start(&app.database_url, &app.task_queue);
    let repeated = alice
        .create_transfer("crash-api", &from, &to, "25.00", "USD")
        .await?;
    let id = repeated["transfer"]["id"].as_str().expect("an id");
    let settled = alice.settled_transfer(id).await?;
    assert_eq!(settled["status"], "POSTED");
    assert_moved_once(&app, id, &from, &to).await?;

    // The ledger says posted as soon as the step commits; the run ends when its lost task has
    // timed out and the survivor has run the transfer again from its history, finding the
    // money moved.
    let workflow_id = settled["workflowId"].as_str().expect("a workflow id");
    let outcome = app
        .temporal
        .get_workflow_handle::<TransferWorkflow>(workflow_id)
        .get_result(WorkflowGetResultOptions::default())
        .await?;
    assert_eq!(outcome.status, TransferStatus::Posted);
    assert_moved_once(&app, id, &from, &to).await?;
    // The dead api had started the run's first task within the start (eagerly).
    let tasks: Vec<(EventType, String)> = app
        .temporal
        .get_workflow_handle::<TransferWorkflow>(workflow_id)
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .into_events()
        .await?
        .iter()
        .filter_map(|event| match &event.attributes {
            Some(Attributes::WorkflowTaskStartedEventAttributes(started)) => {
                Some((event.event_type(), started.identity.clone()))
            }
            Some(Attributes::WorkflowTaskTimedOutEventAttributes(_)) => {
                Some((event.event_type(), String::new()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        tasks,
        [
            (EventType::WorkflowTaskStarted, "djinn-api".to_owned()),
            (EventType::WorkflowTaskTimedOut, String::new()),
            (
                EventType::WorkflowTaskStarted,
                "djinn-test-worker".to_owned()
            ),
        ]
    );
    Ok(())
}

/// The other half of a lost answer: the ledger step committed, its answer never reached the
/// workflow, and the workflow decided to void (here: its input fails validation, as it would
/// give up after the step's deadline). The void finds the money moved and is refused as
/// TRANSFER_POSTED; the workflow then ends POSTED, as the ledger says, and nothing is undone
/// or moved twice.
#[tokio::test]
async fn a_void_that_finds_the_money_moved_ends_the_transfer_posted() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let from = alice
        .open_account("Checking", "USD", Some("100.00"))
        .await?;
    let to = alice.open_account("Savings", "USD", None).await?;
    let user = users::ensure_user(&app.db, "alice").await?;
    let transfer_id = OperationId::generate();
    let amount = Money::from_minor(2_500, Currency::parse("USD")?);
    let moved = TransferRequest::new(account_id(&from), account_id(&to), amount, None)?;
    register_transfer(&app.db, user, transfer_id, &moved).await?;
    ledger::reserve_and_post_transfer(&app.db, transfer_id, user, "lost", "wf", &moved).await?;

    let request = TransferRequest {
        to: account_id(&from),
        ..moved
    };
    let workflow_id = app
        .start_transfer_workflow(user, transfer_id, "lost", request)
        .await?;
    let outcome = app
        .temporal
        .get_workflow_handle::<TransferWorkflow>(workflow_id)
        .get_result(WorkflowGetResultOptions::default())
        .await?;
    assert_eq!(
        outcome,
        TransferOutcome {
            status: TransferStatus::Posted,
            failure_code: None
        }
    );
    assert_eq!(app.balance_minor(&from).await?, (7_500, 0));
    assert_eq!(app.balance_minor(&to).await?, (2_500, 0));
    let (status, postings): (String, i64) = sqlx::query_as(
        "SELECT t.status, (SELECT count(*) FROM postings p WHERE p.transaction_id = t.id)
           FROM transactions t WHERE t.id = $1",
    )
    .bind(transfer_id.as_uuid())
    .fetch_one(&app.db)
    .await?;
    assert_eq!((status.as_str(), postings), ("posted", 2));
    app.assert_ledger_consistent().await?;
    Ok(())
}
