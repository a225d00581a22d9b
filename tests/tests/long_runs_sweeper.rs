//! Nothing stays RUNNING for ever: the worker's sweeper starts a statement import registered
//! but never started (the api died between the two), and ends a reconciliation run whose
//! workflow staff terminated, FAILED with a message saying so.

use djinn_activities::sweeper::{Swept, sweep_once};
use djinn_domain::{ReconciliationRunId, StatementImportId};
use djinn_graphql::schema::ids::{self, NodeType};
use djinn_statements::CsvProfile;
use djinn_store::imports::{self, NewImport, Registered};
use djinn_store::users;
use djinn_tests::{TestApp, account_id, spawn_api, spawn_app};
use djinn_workflows::contracts::ReconcileInput;
use djinn_workflows::{ReconciliationWorkflow, reconciliation_workflow_id};
use std::time::Duration;
use temporalio_client::WorkflowTerminateOptions;

async fn sweep(app: &TestApp) -> anyhow::Result<Swept> {
    Ok(sweep_once(&app.db, &app.temporal, &app.task_queue, Duration::ZERO).await?)
}

#[tokio::test]
async fn an_import_nobody_started_is_started_and_completes() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let alice = app.client("alice");
    let giro = alice.open_account("Giro", "USD", Some("100.00")).await?;
    let user = users::ensure_user(&app.db, "alice").await?;
    // Registered as the api registers it, and never started.
    let new = NewImport {
        id: StatementImportId::generate(),
        account: account_id(&giro),
        idempotency_key: "lost".to_owned(),
        format: "csv",
        csv_profile: CsvProfile::built_in("generic").map(|profile| profile.to_json()),
        content: b"Date,Description,Amount\n2026-11-02,Coffee,-3.50\n2026-11-03,Salary,1000.00\n"
            .to_vec(),
        sha256: [7; 32],
        checked: None,
    };
    let Registered::Created(import) = imports::register(&app.db, user, &new).await? else {
        anyhow::bail!("not registered");
    };

    assert_eq!(sweep(&app).await?.started, 1);
    let id = ids::encode(NodeType::StatementImport, import.id).to_string();
    let settled = alice.settled_import(&id).await?;
    assert_eq!(settled["status"], "COMPLETED", "{settled}");
    assert_eq!(settled["linesPosted"], 2, "{settled}");
    assert_eq!(alice.balances(&giro).await?.0, "1096.50");
    // Registered without a whole read, the file was read whole by the worker first.
    let checked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM statement_imports WHERE checked_at > created_at AND lines_total = 2",
    )
    .fetch_one(&app.db)
    .await?;
    assert_eq!(checked, 1);
    assert_eq!(sweep(&app).await?, Swept::default(), "nothing is left");
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn a_reconciliation_whose_run_was_terminated_ends_failed() -> anyhow::Result<()> {
    // No worker: the run's workflow waits, and staff terminate it.
    let app = spawn_api().await?;
    let alice = app.client("alice");
    let (checking, _) = app.accounts_then_no_worker(&alice, "100.00").await?;
    let started = alice
        .reconcile_account(&checking, "2026-11-01", "2026-11-30")
        .await?;
    let id = started["reconciliationRun"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(!id.is_empty(), "not started: {started}");
    assert_eq!(sweep(&app).await?.running, 1, "a running run is left alone");

    let decoded = ids::decode(&id).map(|(_, uuid)| uuid);
    let run_id = ReconciliationRunId::from_uuid(decoded.ok_or_else(|| anyhow::anyhow!("id {id}"))?);
    let user_id = users::ensure_user(&app.db, "alice").await?;
    let workflow_id = reconciliation_workflow_id(&ReconcileInput { run_id, user_id });
    app.temporal
        .get_workflow_handle::<ReconciliationWorkflow>(workflow_id)
        .terminate(
            WorkflowTerminateOptions::builder()
                .reason("test: staff stop the run".to_owned())
                .build(),
        )
        .await?;
    assert_eq!(sweep(&app).await?.settled, 1);
    let run = alice.settled_run(&id).await?;
    assert_eq!(run["status"], "FAILED", "{run}");
    assert_eq!(
        sweep(&app).await?,
        Swept::default(),
        "an ended run is not swept again"
    );
    Ok(())
}
