//! Approvals and workflow versions: the paths of transfers that wait for approval, and of
//! reversals, recorded beside the others (`record_the_histories_of_todays_workflows`):
//! approved, cancelled by the owner, cancelled by staff (the workflow's cancellation), expired,
//! approved while no worker ran, and a reversal; and the proof that a run of the code before
//! approvals replays on its own path.

use super::{read_history, record, recorded_histories, replayer, settle};
use anyhow::Context;
use djinn_temporal::decisions::{self, Decide};
use djinn_tests::test_codec;
use djinn_tests::{Client, WorkerThread, spawn_api, spawn_app_with};
use djinn_workflows::{TransferStatus, TransferWorkflow};
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use temporalio_client::WorkflowCancelOptions;
use temporalio_client::WorkflowHistory;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;

/// A transfer over the threshold, once it awaits approval: (its id, its workflow id).
async fn waiting(
    alice: &Client,
    key: &str,
    from: &str,
    to: &str,
) -> anyhow::Result<(String, String)> {
    let created = alice.create_transfer(key, from, to, "5.00", "USD").await?;
    let id = created["transfer"]["id"]
        .as_str()
        .context("a transfer")?
        .to_owned();
    let workflow = created["transfer"]["workflowId"]
        .as_str()
        .context("a workflow")?
        .to_owned();
    let transfer = alice.settled_transfer(&id).await?;
    anyhow::ensure!(transfer["status"] == "AWAITING_APPROVAL", "{transfer}");
    Ok((id, workflow))
}

pub async fn record_approval_paths(dir: &Path) -> anyhow::Result<()> {
    let app = spawn_app_with(|config| config.approval_timeout = Duration::from_secs(3)).await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("100.00").await?;
    alice.set_approval_threshold(Some("1.00"), "USD").await?;

    let (_, expiring) = waiting(&alice, "expired", &checking, &savings).await?;
    settle(&app, &expiring, TransferStatus::Voided).await?;
    record(
        &app,
        &expiring,
        &dir.join("transfer-voided-approval-expired.json"),
    )
    .await?;
    drop(app);

    let app = spawn_app_with(|_| {}).await?;
    let alice = app.client("alice");
    let (checking, savings) = alice.checking_and_savings("100.00").await?;
    alice.set_approval_threshold(Some("1.00"), "USD").await?;
    let (approved_id, approved) = waiting(&alice, "approved", &checking, &savings).await?;
    alice.approve_transfer(&approved_id).await?;
    settle(&app, &approved, TransferStatus::Posted).await?;
    record(&app, &approved, &dir.join("transfer-approved.json")).await?;

    let (id, cancelled) = waiting(&alice, "cancelled", &checking, &savings).await?;
    alice.cancel_transfer(&id, Some("changed my mind")).await?;
    settle(&app, &cancelled, TransferStatus::Voided).await?;
    record(
        &app,
        &cancelled,
        &dir.join("transfer-cancelled-by-its-owner.json"),
    )
    .await?;

    let (_, by_staff) = waiting(&alice, "staff", &checking, &savings).await?;
    app.temporal
        .get_workflow_handle::<TransferWorkflow>(by_staff.clone())
        .cancel(WorkflowCancelOptions::default())
        .await?;
    settle(&app, &by_staff, TransferStatus::Voided).await?;
    record(
        &app,
        &by_staff,
        &dir.join("transfer-voided-when-its-run-was-cancelled.json"),
    )
    .await?;

    let reversal = reversal(&alice, &approved_id).await?;
    settle(&app, &reversal, TransferStatus::Posted).await?;
    record(&app, &reversal, &dir.join("reversal-posted.json")).await?;
    drop(app);

    approved_while_no_worker_ran(dir).await
}

/// Reverses the transfer `id`: the reversal's workflow id.
async fn reversal(alice: &Client, id: &str) -> anyhow::Result<String> {
    let query = "mutation($input: ReverseTransferInput!) { reverseTransfer(input: $input) { \
                 transfer { workflowId } userErrors { code } } }";
    let input = json!({"input": {"transferId": id, "idempotencyKey": "undo"}});
    let answer = alice.data(query, input).await?;
    answer["reverseTransfer"]["transfer"]["workflowId"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("a reversal: {answer}"))
}

/// The owner approves while no worker runs: the update waits in the server for the next
/// worker, which replays the run and accepts it.
async fn approved_while_no_worker_ran(dir: &Path) -> anyhow::Result<()> {
    let app = spawn_api().await?;
    let bob = app.client("bob");
    let (checking, savings) = app.accounts_then_no_worker(&bob, "100.00").await?;
    bob.set_approval_threshold(Some("1.00"), "USD").await?;
    let first = WorkerThread::start(&app.database_url, &app.task_queue);
    let (_, workflow) = waiting(&bob, "while-down", &checking, &savings).await?;
    first.stop();
    let (temporal, owner) = (
        app.temporal.clone(),
        djinn_store::users::ensure_user(&app.db, "bob").await?,
    );
    let sent = workflow.clone();
    let approval = tokio::spawn(async move {
        decisions::send(&temporal, &sent, Decide::Approve, owner, None).await
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _second = WorkerThread::start(&app.database_url, &app.task_queue);
    approval.await??;
    settle(&app, &workflow, TransferStatus::Posted).await?;
    record(
        &app,
        &workflow,
        &dir.join("transfer-approved-while-no-worker-ran.json"),
    )
    .await
}

/// During a rolling deploy a worker of the code before approvals could run a transfer whose
/// input carries an approval deadline (registered by an upgraded api): it took its one ledger
/// step. Today's code replays such a run on that path, because the approval path is behind the
/// `approvals` patch: the history below is a run recorded before approvals existed, its input
/// given a deadline.
#[tokio::test]
async fn a_run_of_the_code_before_approvals_replays_on_its_own_path() -> anyhow::Result<()> {
    let before = recorded_histories()?
        .into_iter()
        .find(|path| {
            path.ends_with("transfer-posted.json")
                && path
                    .parent()
                    .is_some_and(|dir| dir.ends_with("2026-11-27-one-ledger-step"))
        })
        .context("a posted transfer recorded before approvals")?;
    let mut history = read_history(&before)?;
    let codec = test_codec();
    let mut given = 0;
    for event in &mut history.events {
        let Some(Attributes::WorkflowExecutionStartedEventAttributes(started)) =
            &mut event.attributes
        else {
            continue;
        };
        for payload in started
            .input
            .iter_mut()
            .flat_map(|input| input.payloads.iter_mut())
        {
            let mut plain = codec.decrypt(payload)?;
            let mut input: serde_json::Value = serde_json::from_slice(&plain.data)?;
            input["approval_deadline_ms"] = i64::MAX.into();
            plain.data = serde_json::to_vec(&input)?;
            *payload = codec.encrypt(&plain)?;
            given += 1;
        }
    }
    assert_eq!(given, 1, "a transfer's input is one payload");
    let replayed = replayer()?
        .replay_workflow(WorkflowHistory::from(history))
        .await;
    assert!(replayed.is_ok(), "{replayed:?}");
    Ok(())
}
