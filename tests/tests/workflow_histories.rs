//! Workflow code must keep replaying the histories of runs it started earlier: a transfer may be
//! in flight while a new worker version rolls out, and a worker replays a run whenever it picks
//! it up again (a crash, an eviction, a timed-out task). A change that records other commands
//! than the history holds fails such a run with a nondeterminism error, in production.
//!
//! `tests/histories/<version>/` keeps the histories of the paths a workflow takes in normal
//! running and through a crash or an outage (and, from `2026-12-05-approvals`, a transfer
//! approved, cancelled by its owner or by staff, expired, approved while no worker ran, and a
//! reversal: `workflow_histories/approvals.rs`), recorded from real runs against the Temporal dev
//! server and PostgreSQL (payloads encrypted with the test key, as in every test).
//! `every_recorded_history_replays_on_todays_code` replays all of them, with no server, against
//! today's code. A change that breaks one either is not meant (fix the code) or needs
//! `ctx.patched(..)` so that old runs keep their old path; the old folder stays until no run of
//! that version can still be open. Not recorded: a transfer whose ledger step runs out its
//! 10-minute deadline, and a void that outlives its 5-minute local attempt; their deadlines are
//! too long for a test.
//!
//! Recording a new version's histories (after a change that adds a path, or once patched code
//! is the only code running), into `tests/histories/<date>-<change>/`:
//! `DJINN_RECORD_HISTORIES=<date>-<change> scripts/test.sh -p djinn-tests --test workflow_histories -- --ignored`

use anyhow::{Context, bail, ensure};
use djinn_domain::{Currency, Money, OperationId, TransferRequest};
use djinn_ledger as ledger;
use djinn_store::users;
use djinn_temporal as temporal;
use djinn_tests::ledger_steps::register_transfer;
use djinn_tests::{TestApp, WorkerThread, account_id, spawn_api, spawn_app, test_codec};
use djinn_workflows::{OpenAccountWorkflow, TransferOutcome, TransferStatus, TransferWorkflow};
use std::path::{Path, PathBuf};
use std::time::Duration;
use temporalio_client::{WorkflowFetchHistoryOptions, WorkflowGetResultOptions, WorkflowHistory};
use temporalio_common::protos::temporal::api::enums::v1::EventType;
use temporalio_common::protos::temporal::api::history::v1::{History, history_event::Attributes};
use temporalio_sdk::workflow_replayer::{
    WorkflowReplayError, WorkflowReplayFailure, WorkflowReplayer, WorkflowReplayerOptions,
};

#[path = "workflow_histories/approvals.rs"]
mod approvals;

/// The paths one recording gives: a folder with fewer histories lost some. (An opening's local
/// step gives up one of two ways, by timing; a folder may keep both, caught over two runs.)
const PATHS_PER_VERSION: usize = 7;

fn histories_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("histories")
}

/// Every `*.json` under `tests/histories/<version>/`, sorted.
fn recorded_histories() -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for version in std::fs::read_dir(histories_dir())? {
        let version = version?.path();
        if !version.is_dir() {
            continue;
        }
        let mut found = 0;
        for file in std::fs::read_dir(&version)? {
            let file = file?.path();
            if file.extension().is_some_and(|ext| ext == "json") {
                files.push(file);
                found += 1;
            }
        }
        ensure!(
            found >= PATHS_PER_VERSION,
            "{} holds {found} histories, fewer than the {PATHS_PER_VERSION} paths recorded per version",
            version.display()
        );
    }
    files.sort();
    Ok(files)
}

fn replayer() -> anyhow::Result<WorkflowReplayer> {
    Ok(WorkflowReplayer::new(
        WorkflowReplayerOptions::new()
            .data_converter(temporal::data_converter(&test_codec()))
            .register_workflow::<TransferWorkflow>()?
            .register_workflow::<OpenAccountWorkflow>()?
            .build(),
    )?)
}

fn read_history(path: &Path) -> anyhow::Result<History> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

#[tokio::test]
async fn every_recorded_history_replays_on_todays_code() -> anyhow::Result<()> {
    let files = recorded_histories()?;
    ensure!(
        !files.is_empty(),
        "no histories under {}",
        histories_dir().display()
    );
    let histories = files
        .iter()
        .map(|path| read_history(path).map(WorkflowHistory::from))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let results = replayer()?.replay_workflows(histories).await?;
    let failures: Vec<String> = files
        .iter()
        .zip(&results)
        .filter_map(|(path, result)| {
            result
                .replay_failure
                .as_ref()
                .map(|failure| format!("{}: {failure}", path.display()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "today's workflow code no longer replays these runs:\n{}",
        failures.join("\n")
    );
    assert_eq!(results.len(), files.len());
    Ok(())
}

/// The replay above can fail: a posted transfer's history whose ledger step was another
/// activity (as the two-step transfer of earlier code recorded `ledger.reserve_transfer`) is
/// refused as nondeterministic.
#[tokio::test]
async fn a_history_the_code_no_longer_matches_fails_to_replay() -> anyhow::Result<()> {
    let posted = recorded_histories()?
        .into_iter()
        .find(|path| path.ends_with("transfer-posted.json"))
        .context("a recorded posted transfer")?;
    let mut history = read_history(&posted)?;
    let mut renamed = 0;
    for event in &mut history.events {
        let Some(Attributes::MarkerRecordedEventAttributes(marker)) = &mut event.attributes else {
            continue;
        };
        for payload in marker
            .details
            .get_mut("data")
            .into_iter()
            .flat_map(|data| data.payloads.iter_mut())
        {
            let mut data: serde_json::Value = serde_json::from_slice(&payload.data)?;
            data["activity_type"] = "ledger.reserve_transfer".into();
            payload.data = serde_json::to_vec(&data)?;
            renamed += 1;
        }
    }
    assert_eq!(renamed, 1, "a posted transfer records one ledger step");
    let replayed = replayer()?
        .replay_workflow(WorkflowHistory::from(history))
        .await;
    assert!(
        matches!(
            replayed,
            Err(WorkflowReplayError::Replay(
                WorkflowReplayFailure::Nondeterminism { .. }
            ))
        ),
        "{replayed:?}"
    );
    Ok(())
}

/// Records one history per path of today's workflows into
/// `tests/histories/$DJINN_RECORD_HISTORIES/` (see the module header). Ignored: it writes files, and `make test` only reads them.
#[tokio::test]
#[ignore = "records fixtures; run with DJINN_RECORD_HISTORIES set"]
async fn record_the_histories_of_todays_workflows() -> anyhow::Result<()> {
    let version = std::env::var("DJINN_RECORD_HISTORIES")
        .context("DJINN_RECORD_HISTORIES names the version folder to record into")?;
    ensure!(
        !version.is_empty() && !version.contains(['/', '\\']) && !version.starts_with('.'),
        "DJINN_RECORD_HISTORIES is a folder name under tests/histories, not a path: {version:?}"
    );
    let dir = histories_dir().join(version);
    std::fs::create_dir_all(&dir)?;

    let app = spawn_app().await?;
    let alice = app.client("alice");
    let checking = alice
        .open_account("Checking", "USD", Some("100.00"))
        .await?;
    let savings = alice.open_account("Savings", "USD", None).await?;
    let opening: String = sqlx::query_scalar(
        "SELECT workflow_id FROM operations WHERE kind = 'open_account' ORDER BY id LIMIT 1",
    )
    .fetch_one(&app.db)
    .await?;
    record(&app, &opening, &dir.join("open-account.json")).await?;

    // An opening whose local attempt gives up (nothing can write postings while this lock is
    // held) and which continues as a regular activity, done once the lock is gone.
    let outage = app.lock_postings().await?;
    let told = alice
        .graphql(
            "mutation { openAccount(input: {idempotencyKey: \"outage\", name: \"Cash\", kind: CASH,
                currency: \"USD\", openingBalance: {amount: \"5.00\", currency: \"USD\"}}) { account { id } } }",
            serde_json::json!({}),
        )
        .await?;
    ensure!(told["errors"].is_array(), "told to repeat: {told}");
    let continued: String =
        sqlx::query_scalar("SELECT workflow_id FROM operations WHERE idempotency_key = 'outage'")
            .fetch_one(&app.db)
            .await?;
    let handle = app
        .temporal
        .get_workflow_handle::<OpenAccountWorkflow>(continued.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !handle
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .into_events()
        .await?
        .iter()
        .any(|event| event.event_type() == EventType::ActivityTaskScheduled)
    {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the opening never continued as a regular activity"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    outage.commit().await?;
    handle
        .get_result(WorkflowGetResultOptions::default())
        .await?;
    // Which way the local step gave up depends on timing: its deadline's timer fired first, or
    // the local activity's own schedule-to-close timeout ended it. Both are paths of
    // `steps::local_step`; a version folder keeps one history of each, recorded over runs.
    let timer_fired = handle
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .into_events()
        .await?
        .iter()
        .any(|event| event.event_type() == EventType::TimerFired);
    let name = if timer_fired {
        "open-account-continued-after-its-deadline-timer-fired.json"
    } else {
        "open-account-continued-after-its-local-attempt-failed.json"
    };
    record(&app, &continued, &dir.join(name)).await?;

    let payload = alice
        .create_transfer("posted", &checking, &savings, "25.00", "USD")
        .await?;
    let posted = payload["transfer"]["workflowId"]
        .as_str()
        .context("a transfer")?;
    settle(&app, posted, TransferStatus::Posted).await?;
    record(&app, posted, &dir.join("transfer-posted.json")).await?;

    // The API refuses what the ledger would refuse; a run started directly reaches the ledger.
    let user = users::ensure_user(&app.db, "alice").await?;
    let [from, to] = [&checking, &savings].map(|id| account_id(id));
    let usd = Currency::parse("USD")?;
    let too_much = TransferRequest::new(from, to, Money::from_minor(1_000_000, usd), None)?;
    let refused = app
        .start_transfer_workflow(user, OperationId::generate(), "refused", too_much)
        .await?;
    settle(&app, &refused, TransferStatus::Voided).await?;
    record(
        &app,
        &refused,
        &dir.join("transfer-voided-by-the-ledger.json"),
    )
    .await?;

    let amount = Money::from_minor(100, usd);
    let to_itself = TransferRequest {
        to: from,
        ..TransferRequest::new(from, to, amount, None)?
    };
    // Registered as a valid transfer; the run is handed another, invalid, input.
    let invalid_id = OperationId::generate();
    let valid = TransferRequest::new(from, to, amount, None)?;
    register_transfer(&app.db, user, invalid_id, &valid).await?;
    let invalid = app
        .start_unregistered_transfer_workflow(user, invalid_id, "invalid", to_itself.clone())
        .await?;
    settle(&app, &invalid, TransferStatus::Voided).await?;
    record(&app, &invalid, &dir.join("transfer-voided-invalid.json")).await?;

    // The money moved but the workflow decided to void: the void is refused, it ends POSTED.
    let moved = TransferRequest::new(from, to, amount, None)?;
    let transfer_id = OperationId::generate();
    register_transfer(&app.db, user, transfer_id, &moved).await?;
    ledger::reserve_and_post_transfer(&app.db, transfer_id, user, "lost", "wf", &moved).await?;
    let lost = app
        .start_transfer_workflow(user, transfer_id, "lost", to_itself)
        .await?;
    settle(&app, &lost, TransferStatus::Posted).await?;
    record(
        &app,
        &lost,
        &dir.join("transfer-posted-when-the-void-found-it-moved.json"),
    )
    .await?;
    drop(app);

    // A worker that dies after the ledger step committed: the task times out and a new worker
    // replays the run and takes the step again.
    let app = spawn_api().await?;
    let bob = app.client("bob");
    let (checking, savings) = app.accounts_then_no_worker(&bob, "100.00").await?;
    let mut doomed = app.worker_process(&[(
        djinn_activities::chaos::CHAOS_ENV,
        "reserve_and_post_transfer",
    )])?;
    let payload = bob
        .create_transfer("crashed", &checking, &savings, "25.00", "USD")
        .await?;
    let crashed = payload["transfer"]["workflowId"]
        .as_str()
        .context("a transfer")?
        .to_owned();
    let died = tokio::time::timeout(Duration::from_secs(60), doomed.wait()).await??;
    ensure!(!died.success(), "the worker must have died mid-transfer");
    let _survivor = WorkerThread::start(&app.database_url, &app.task_queue);
    settle(&app, &crashed, TransferStatus::Posted).await?;
    record(
        &app,
        &crashed,
        &dir.join("transfer-posted-after-a-worker-died.json"),
    )
    .await?;
    drop(app);
    approvals::record_approval_paths(&dir).await
}

async fn settle(app: &TestApp, workflow_id: &str, expected: TransferStatus) -> anyhow::Result<()> {
    let outcome: TransferOutcome = app
        .temporal
        .get_workflow_handle::<TransferWorkflow>(workflow_id)
        .get_result(WorkflowGetResultOptions::default())
        .await?;
    if outcome.status != expected {
        bail!("{workflow_id} ended {outcome:?}, not {expected:?}");
    }
    Ok(())
}

/// Writes the whole history of a run that ended (the caller waited for it), pretty-printed so
/// that a diff of two versions reads. The handle's workflow type only types its result.
async fn record(app: &TestApp, workflow_id: &str, path: &Path) -> anyhow::Result<()> {
    let events = app
        .temporal
        .get_workflow_handle::<TransferWorkflow>(workflow_id)
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .into_events()
        .await?;
    ensure!(
        events
            .last()
            .is_some_and(|event| event.event_type() == EventType::WorkflowExecutionCompleted),
        "{workflow_id} has not completed"
    );
    std::fs::write(path, serde_json::to_vec_pretty(&History { events })?)?;
    Ok(())
}
