//! Reconciliation end to end: a statement imported with `djinn import`, Djinn transfers the
//! bank never showed, lines the ledger lacks planted beside the imported ones; the run (from
//! GraphQL and from `djinn reconcile`) finds each kind and the closing difference. The nightly
//! schedule is applied twice by `djinn schedules apply`, listed, and triggered in the test.

use djinn_tests::{Client, TestApp, spawn_app};
use serde_json::json;
use std::time::{Duration, Instant};
use temporalio_client::RpcOptions;
use temporalio_client::schedules::{ScheduleOverlapPolicy, TriggerScheduleOptions};

const CAMT: &str = include_str!("../../statements/tests/files/camt053.xml");

/// The CAMT fixture with every booked entry booked today (opening 1000.00, closing 1947.55).
fn statement_of_today() -> String {
    let today = chrono::Utc::now().date_naive().to_string();
    ["2026-11-15", "2026-11-20", "2026-11-21"]
        .iter()
        .fold(CAMT.to_owned(), |text, day| text.replace(day, &today))
}

fn uuid_of(global_id: &str) -> String {
    djinn_graphql::schema::ids::decode(global_id)
        .expect("an id")
        .1
        .to_string()
}

/// A EUR giro account opened with the statement's opening balance, a savings account, and the
/// statement imported by an operator: (giro, savings).
async fn imported_statement(app: &TestApp, client: &Client) -> anyhow::Result<(String, String)> {
    let giro = client.open_account("Giro", "EUR", Some("1000.00")).await?;
    let savings = client.open_account("Savings", "EUR", None).await?;
    let path = std::env::temp_dir().join(format!("camt-{}.xml", uuid::Uuid::now_v7()));
    std::fs::write(&path, statement_of_today())?;
    let path = path.to_string_lossy().into_owned();
    let output = app
        .djinn_command(&["import", &path, "--account", &uuid_of(&giro)])
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("3 lines, 0 matched, 3 posted"), "{stdout}");
    // Importing the same file again finds the first import (its key is the file's hash).
    let again = app
        .djinn_command(&["import", &path, "--account", &uuid_of(&giro)])
        .await?;
    assert!(String::from_utf8_lossy(&again.stdout).contains("3 posted"));
    Ok((giro, savings))
}

async fn transfer(
    client: &Client,
    key: &str,
    from: &str,
    to: &str,
    amount: &str,
) -> anyhow::Result<()> {
    let created = client.create_transfer(key, from, to, amount, "EUR").await?;
    let id = created["transfer"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(client.settled_transfer(&id).await?["status"] == json!("POSTED"));
    Ok(())
}

/// Lines the bank shows that the ledger lacks, written beside the imported ones.
async fn plant_lines(app: &TestApp, giro: &str, amounts: &[i64]) -> anyhow::Result<()> {
    for amount in amounts {
        sqlx::query(
            "INSERT INTO statement_lines (id, user_id, account_id, import_id, bank_id, booked_on,
                                          amount_minor, currency, description)
             SELECT $1, i.user_id, i.account_id, i.id, $2, current_date, $3, 'EUR', 'planted'
               FROM statement_imports i WHERE i.account_id = $4::uuid",
        )
        .bind(uuid::Uuid::now_v7())
        .bind(format!("planted{amount}"))
        .bind(amount)
        .bind(uuid_of(giro).parse::<uuid::Uuid>()?)
        .execute(&app.db)
        .await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_reconciliation_finds_each_kind_of_discrepancy() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let client = app.client("alice");
    let (giro, savings) = imported_statement(&app, &client).await?;
    // Made in Djinn, never executed by the bank; the second has a line planted by amount.
    transfer(&client, "never-executed", &giro, &savings, "25.00").await?;
    transfer(&client, "shown-later", &giro, &savings, "30.00").await?;
    plant_lines(&app, &giro, &[-700, -3000]).await?;

    let today = chrono::Utc::now().date_naive();
    let from = (today - chrono::Days::new(3)).to_string();
    let started = client
        .reconcile_account(&giro, &from, &today.to_string())
        .await?;
    assert_eq!(started["userErrors"], json!([]), "{started}");
    let run = client
        .settled_run(
            started["reconciliationRun"]["id"]
                .as_str()
                .unwrap_or_default(),
        )
        .await?;
    assert_eq!(run["status"], json!("COMPLETED"), "{run}");
    // Three lines by bank id, the planted 30.00 by amount.
    assert_eq!(run["matchedCount"], json!(4), "{run}");
    assert_eq!(run["missingFromLedgerCount"], json!(1));
    assert_eq!(run["missingFromLedger"][0]["bankId"], json!("planted-700"));
    assert_eq!(
        run["missingFromLedger"][0]["amount"],
        json!({"amount": "-7.00", "currency": "EUR"})
    );
    assert_eq!(run["unexpectedInLedgerCount"], json!(1));
    assert_eq!(
        run["unexpectedInLedger"][0]["amount"]["amount"],
        json!("-25.00"),
        "{run}"
    );
    // The statement closes at 1947.55; the ledger holds 55.00 less that day.
    assert_eq!(
        run["closingDifference"],
        json!({"amount": "55.00", "currency": "EUR"}),
        "{run}"
    );

    // The operator's command finds the same over the days the statements cover.
    let output = app
        .djinn_command(&["reconcile", "--account", &uuid_of(&giro)])
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("matched 4, missing from ledger 1, unexpected in ledger 1, closing difference 5500 minor units"),
        "{stdout}"
    );
    let listed = client
        .data(
            "query($id: ID!) { account(id: $id) { reconciliationRuns(first: 10) { edges { node { id status matchedCount } } } } }",
            json!({"id": giro}),
        )
        .await?;
    let runs = &listed["account"]["reconciliationRuns"]["edges"];
    assert_eq!(runs.as_array().map(Vec::len), Some(2), "{listed}");
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn a_reconciliation_of_bad_input_is_refused() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let client = app.client("bob");
    let giro = client.open_account("Giro", "EUR", None).await?;
    let backwards = client
        .reconcile_account(&giro, "2026-12-05", "2026-12-01")
        .await?;
    assert_eq!(
        backwards["userErrors"][0]["code"],
        json!("INVALID_PERIOD"),
        "{backwards}"
    );
    let foreign = app
        .client("mallory")
        .reconcile_account(&giro, "2026-12-01", "2026-12-05")
        .await?;
    assert_eq!(
        foreign["userErrors"][0]["code"],
        json!("ACCOUNT_NOT_FOUND"),
        "{foreign}"
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM reconciliation_runs")
        .fetch_one(&app.db)
        .await?;
    assert_eq!(count, 0);
    Ok(())
}

#[tokio::test]
async fn the_nightly_schedule_is_applied_once_and_reconciles_every_account() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let client = app.client("carol");
    let (giro, _) = imported_statement(&app, &client).await?;
    let apply = [
        "schedules",
        "apply",
        "--at",
        "03:15",
        "--time-zone",
        "Europe/Berlin",
    ];
    let first = app.djinn_command(&apply).await?;
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = app.djinn_command(&apply).await?;
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(
        stdout.contains("reconciliation-nightly Updated: every day at 03:15 Europe/Berlin"),
        "{stdout}"
    );

    let handle = app.temporal.get_schedule_handle("reconciliation-nightly");
    let described = handle.describe(RpcOptions::default()).await?;
    let policies = described
        .raw()
        .schedule
        .as_ref()
        .and_then(|s| s.policies)
        .unwrap_or_default();
    assert_eq!(policies.overlap_policy, 1, "skip");
    assert_eq!(
        policies.catchup_window.map(|w| w.seconds),
        Some(6 * 60 * 60)
    );
    let listed = app.djinn_command(&["schedules", "list"]).await?;
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("reconciliation-nightly\tNightlyReconciliationWorkflow\tactive"),
        "{listed}"
    );

    // Triggered now, as an operator does from the Temporal UI.
    handle
        .trigger(
            ScheduleOverlapPolicy::AllowAll,
            TriggerScheduleOptions::default(),
        )
        .await?;
    let account = uuid_of(&giro).parse::<uuid::Uuid>()?;
    let started = Instant::now();
    loop {
        let done: Option<(String, i32)> = sqlx::query_as(
            "SELECT status, matched_count FROM reconciliation_runs
              WHERE account_id = $1 AND nightly_on IS NOT NULL",
        )
        .bind(account)
        .fetch_optional(&app.db)
        .await?;
        if let Some((status, matched)) = done.filter(|(status, _)| status != "running") {
            assert_eq!((status.as_str(), matched), ("completed", 3));
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the nightly run never ended"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}
