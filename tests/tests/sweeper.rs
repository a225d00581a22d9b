//! Nothing stays pending for ever: the worker's sweeper starts a registration whose workflow
//! was never started (the api died between registering and starting), and settles an operation
//! whose run ended without settling it (terminated by staff), with RUN_ENDED.

use anyhow::Context;
use djinn_activities::sweeper::{Swept, sweep_once};
use djinn_domain::{Currency, Money, OperationId, RejectionCode, TransferRequest};
use djinn_store::users;
use djinn_tests::ledger_steps::register_transfer;
use djinn_tests::{NewAccount, TestApp, WorkerThread, account_id, spawn_api, spawn_app};
use djinn_workflows::{OpenAccountWorkflow, TransferWorkflow};
use serde_json::json;
use std::time::{Duration, Instant};
use temporalio_client::WorkflowTerminateOptions;

async fn sweep(app: &TestApp) -> anyhow::Result<Swept> {
    Ok(sweep_once(&app.db, &app.temporal, &app.task_queue, Duration::ZERO).await?)
}

fn terminate_options() -> WorkflowTerminateOptions {
    WorkflowTerminateOptions::builder()
        .reason("test: staff stop the run".to_owned())
        .build()
}

/// A transfer of 25.00 registered directly, as the api registers one before it starts it.
async fn registered_transfer(
    app: &TestApp,
    uid: &str,
    from: &str,
    to: &str,
) -> anyhow::Result<(OperationId, String)> {
    let user = users::ensure_user(&app.db, uid).await?;
    let transfer = OperationId::generate();
    let amount = Money::from_minor(2_500, Currency::parse("USD")?);
    let request = TransferRequest::new(account_id(from), account_id(to), amount, None)?;
    register_transfer(&app.db, user, transfer, &request).await?;
    let id = djinn_graphql::schema::ids::encode(
        djinn_graphql::schema::ids::NodeType::Transfer,
        transfer.as_uuid(),
    );
    Ok((transfer, id.to_string()))
}

#[tokio::test]
async fn a_registration_nobody_started_is_started_once() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("100.00").await?;
    let (_, id) = registered_transfer(&app, "alice", &checking, &savings).await?;

    assert_eq!(sweep(&app).await?.started, 1);
    let settled = alice.settled_transfer(&id).await?;
    assert_eq!(settled["status"], "POSTED", "{settled}");
    assert_eq!(
        sweep(&app).await?,
        Swept::default(),
        "nothing is left to sweep"
    );
    assert_eq!(alice.balances(&checking).await?.0, "75.00");
    assert_eq!(alice.balances(&savings).await?.0, "25.00");
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn a_transfer_whose_run_was_terminated_is_voided_for_good() -> anyhow::Result<()> {
    // No worker: the transfer's run waits, and staff terminate it.
    let app = spawn_api().await?;
    let alice = app.client("alice");
    let (checking, savings) = app.accounts_then_no_worker(&alice, "100.00").await?;
    let payload = alice
        .create_transfer("stuck", &checking, &savings, "25.00", "USD")
        .await?;
    let id = payload["transfer"]["id"].as_str().context("a transfer")?;
    let workflow_id = payload["transfer"]["workflowId"]
        .as_str()
        .context("an id")?;
    assert_eq!(
        sweep(&app).await?.running,
        1,
        "a running workflow is left alone"
    );

    app.temporal
        .get_workflow_handle::<TransferWorkflow>(workflow_id)
        .terminate(terminate_options())
        .await?;
    assert_eq!(sweep(&app).await?.settled, 1);
    let read = alice.settled_transfer(id).await?;
    assert_eq!(read["status"], "VOIDED", "{read}");
    assert_eq!(read["failureCode"], "RUN_ENDED");

    // Its id is claimed by the void: a late attempt of its step can never move the money.
    let transfer = OperationId::from_uuid(djinn_graphql::schema::ids::decode(id).context("id")?.1);
    let user = users::ensure_user(&app.db, "alice").await?;
    let amount = Money::from_minor(2_500, Currency::parse("USD")?);
    let request = TransferRequest::new(account_id(&checking), account_id(&savings), amount, None)?;
    let late =
        djinn_ledger::reserve_and_post_transfer(&app.db, transfer, user, "stuck", "wf", &request)
            .await;
    assert!(
        matches!(&late, Err(djinn_store::StoreError::Rejected(r)) if r.code == RejectionCode::TransferVoided),
        "{late:?}"
    );
    assert_eq!(alice.balances(&checking).await?.0, "100.00");
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn an_opening_whose_run_was_terminated_fails_and_a_repeat_opens_it() -> anyhow::Result<()> {
    let app = spawn_api().await?;
    let alice = app.client("alice");
    let savings = NewAccount::new("Savings", "EUR")
        .kind("SAVINGS")
        .idempotency_key("savings-1")
        .opening_balance("10.00");
    let told = savings.send_raw(&alice).await?;
    assert!(
        told["errors"].is_array(),
        "no worker: told to repeat: {told}"
    );
    let workflow_id: String = sqlx::query_scalar(
        "SELECT workflow_id FROM operations WHERE idempotency_key = 'savings-1'",
    )
    .fetch_one(&app.db)
    .await?;
    app.temporal
        .get_workflow_handle::<OpenAccountWorkflow>(workflow_id)
        .terminate(terminate_options())
        .await?;
    assert_eq!(sweep(&app).await?.settled, 1);
    let (status, code): (String, Option<String>) = sqlx::query_as(
        "SELECT status, failure_code FROM operations WHERE idempotency_key = 'savings-1'",
    )
    .fetch_one(&app.db)
    .await?;
    assert_eq!(
        (status.as_str(), code.as_deref()),
        ("failed", Some("RUN_ENDED"))
    );

    let _worker = WorkerThread::start(&app.database_url, &app.task_queue);
    let opened = savings.send(&alice).await?;
    assert_eq!(
        opened["account"]["balance"],
        json!({"amount": "10.00", "currency": "EUR"})
    );
    let id = opened["account"]["id"].as_str().context("an account")?;
    assert_eq!(
        savings.send(&alice).await?["account"]["id"],
        json!(id),
        "opened once"
    );
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn djinn_worker_sweeps_on_its_own() -> anyhow::Result<()> {
    let app = spawn_api().await?;
    let alice = app.client("alice");
    let (checking, savings) = app.accounts_then_no_worker(&alice, "100.00").await?;
    let (_, id) = registered_transfer(&app, "alice", &checking, &savings).await?;
    let _worker = app.worker_process(&[
        ("DJINN_SWEEP_AFTER_MS", "0"),
        ("DJINN_SWEEP_INTERVAL_MS", "200"),
    ])?;
    let started = Instant::now();
    let settled = alice.settled_transfer(&id).await?;
    assert_eq!(settled["status"], "POSTED", "{settled}");
    assert!(started.elapsed() < Duration::from_secs(60));
    app.assert_ledger_consistent().await
}
