//! The ledger moves only what the API registered. Anyone who can start workflows in the
//! namespace (a leaked Temporal API key, the Web UI, the CLI) can hand a workflow any input:
//! these tests do, through the Temporal client, and show that nothing moves.

use anyhow::{Context, ensure};
use djinn_domain::{
    AccountId, AccountKind, AccountName, Currency, IdempotencyKey, Money, OperationId,
    TransferRequest, UserId,
};
use djinn_store::users;
use djinn_tests::ledger_steps::register_transfer;
use djinn_tests::{TestApp, WorkerThread, account_id, spawn_api, spawn_app};
use djinn_workflows::{OpenAccountInput, OpenAccountWorkflow, TransferInput, TransferWorkflow};
use std::time::{Duration, Instant};
use temporalio_client::{
    WorkflowFetchHistoryOptions, WorkflowGetResultOptions, WorkflowStartOptions,
    WorkflowTerminateOptions,
};
use temporalio_common::protos::temporal::api::enums::v1::EventType;

fn usd(amount_minor: i64) -> anyhow::Result<Money> {
    Ok(Money::from_minor(amount_minor, Currency::parse("USD")?))
}

/// The number of postings, and of journal entries, of `transfer`.
async fn written_for(app: &TestApp, transfer: OperationId) -> anyhow::Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT (SELECT count(*) FROM postings WHERE transaction_id = $1),
                (SELECT count(*) FROM transactions WHERE id = $1)",
    )
    .bind(transfer.as_uuid())
    .fetch_one(&app.db)
    .await?)
}

/// Waits for the run's result and says whether the run failed.
async fn failed<T, E>(result: impl Future<Output = Result<T, E>>) -> anyhow::Result<bool> {
    let ended = tokio::time::timeout(Duration::from_secs(60), result)
        .await
        .context("the run ends")?;
    Ok(ended.is_err())
}

/// Whether the transfer run `workflow_id` failed, once it ended.
async fn transfer_failed(app: &TestApp, workflow_id: &str) -> anyhow::Result<bool> {
    let handle = app
        .temporal
        .get_workflow_handle::<TransferWorkflow>(workflow_id.to_owned());
    failed(handle.get_result(WorkflowGetResultOptions::default())).await
}

#[tokio::test]
async fn a_run_nobody_registered_moves_nothing_between_a_victims_accounts() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let victim = app.client("victim");
    let (checking, savings) = victim.checking_and_savings("100.00").await?;
    let user = users::ensure_user(&app.db, "victim").await?;
    let transfer = OperationId::generate();
    let request = TransferRequest::new(
        account_id(&checking),
        account_id(&savings),
        usd(9_000)?,
        None,
    )?;

    let forged = app
        .start_unregistered_transfer_workflow(user, transfer, "forged", request)
        .await?;
    ensure!(
        transfer_failed(&app, &forged).await?,
        "the forged run must fail"
    );
    assert_eq!(
        written_for(&app, transfer).await?,
        (0, 0),
        "not even a tombstone"
    );
    assert_eq!(victim.balances(&checking).await?.0, "100.00");
    assert_eq!(victim.balances(&savings).await?.0, "0.00");
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn a_registered_transfer_moves_only_its_registered_amount() -> anyhow::Result<()> {
    // No worker yet: the registered transfer waits while a run with another amount, under the
    // same transfer id, runs alone on a queue of its own (any queue a worker polls will do).
    let app = spawn_api().await?;
    let alice = app.client("alice");
    let (checking, savings) = app.accounts_then_no_worker(&alice, "100.00").await?;
    let payload = alice
        .create_transfer("rent", &checking, &savings, "25.00", "USD")
        .await?;
    let id = payload["transfer"]["id"].as_str().context("a transfer")?;
    let transfer =
        OperationId::from_uuid(djinn_graphql::schema::ids::decode(id).context("an id")?.1);
    let user = users::ensure_user(&app.db, "alice").await?;
    let more = TransferRequest::new(
        account_id(&checking),
        account_id(&savings),
        usd(9_000)?,
        None,
    )?;
    let forged_queue = format!("{}-forged", app.task_queue);
    let forged = format!("transfer:{user}:rent-forged");
    let input = TransferInput {
        transfer_id: transfer,
        user_id: user,
        idempotency_key: IdempotencyKey::parse("rent-forged")?,
        request: more,
        trace: None,
        approval_deadline_ms: None,
    };
    app.temporal
        .start_workflow(
            TransferWorkflow::run,
            input,
            WorkflowStartOptions::new(forged_queue.clone(), forged.clone()).build(),
        )
        .await?;
    let forger = WorkerThread::start(&app.database_url, &forged_queue);
    ensure!(
        transfer_failed(&app, &forged).await?,
        "the run with another amount must fail"
    );
    forger.stop();
    assert_eq!(
        written_for(&app, transfer).await?,
        (0, 0),
        "nothing written"
    );

    let _worker = WorkerThread::start(&app.database_url, &app.task_queue);
    let settled = alice.settled_transfer(id).await?;
    assert_eq!(settled["status"], "POSTED", "{settled}");
    assert_eq!(written_for(&app, transfer).await?, (2, 1));
    assert_eq!(alice.balances(&checking).await?.0, "75.00");
    assert_eq!(alice.balances(&savings).await?.0, "25.00");
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn a_worker_with_keys_refuses_a_plaintext_input() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("100.00").await?;
    let user = users::ensure_user(&app.db, "alice").await?;
    // Registered, so that only the missing encryption stands between this run and the ledger.
    let transfer = OperationId::generate();
    let request = TransferRequest::new(
        account_id(&checking),
        account_id(&savings),
        usd(1_000)?,
        None,
    )?;
    register_transfer(&app.db, user, transfer, &request).await?;
    let key = IdempotencyKey::parse("plaintext")?;
    let workflow_id = format!("transfer:{user}:plaintext");
    let input = TransferInput {
        transfer_id: transfer,
        user_id: user,
        idempotency_key: key,
        request,
        trace: None,
        approval_deadline_ms: None,
    };
    let keyless = djinn_temporal::connect_from_env("forger", None).await?;
    let handle = keyless
        .start_workflow(
            TransferWorkflow::run,
            input,
            WorkflowStartOptions::new(app.task_queue.clone(), workflow_id.clone()).build(),
        )
        .await?;

    let started = Instant::now();
    loop {
        let events = handle
            .fetch_history(WorkflowFetchHistoryOptions::default())
            .into_events()
            .await?;
        let types: Vec<EventType> = events.iter().map(|e| e.event_type()).collect();
        ensure!(
            !types.contains(&EventType::WorkflowExecutionCompleted),
            "a plaintext run must not complete"
        );
        if types.contains(&EventType::WorkflowTaskFailed) {
            break;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(60),
            "no task failed: {types:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(written_for(&app, transfer).await?, (0, 0));
    app.temporal
        .get_workflow_handle::<TransferWorkflow>(workflow_id)
        .terminate(
            WorkflowTerminateOptions::builder()
                .reason("test: a plaintext run".to_owned())
                .build(),
        )
        .await?;
    assert_eq!(alice.balances(&checking).await?.0, "100.00");
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn an_opening_nobody_registered_opens_nothing() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    alice.open_account("Checking", "USD", None).await?;
    let user: UserId = users::ensure_user(&app.db, "alice").await?;
    let account = AccountId::generate();
    let input = OpenAccountInput {
        operation_id: OperationId::from_uuid(account.as_uuid()),
        account_id: account,
        user_id: user,
        name: AccountName::parse("Free money")?,
        kind: AccountKind::Savings,
        opening_balance: usd(1_000_000)?,
        overdraft_limit: None,
    };
    let workflow_id = format!("open-account:{user}:forged");
    app.temporal
        .start_workflow(
            OpenAccountWorkflow::run,
            input,
            WorkflowStartOptions::new(app.task_queue.clone(), workflow_id.clone()).build(),
        )
        .await?;
    let handle = app
        .temporal
        .get_workflow_handle::<OpenAccountWorkflow>(workflow_id);
    ensure!(
        failed(handle.get_result(WorkflowGetResultOptions::default())).await?,
        "the forged opening must fail"
    );
    let opened: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts WHERE id = $1")
        .bind(account.as_uuid())
        .fetch_one(&app.db)
        .await?;
    assert_eq!(opened, 0);
    app.assert_ledger_consistent().await
}
