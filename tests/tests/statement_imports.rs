//! Statement imports end to end: a multipart upload through GraphQL, the import workflow on a
//! real Temporal server, the lines written in batches into the real ledger. Each line posts
//! once (a re-import or an overlapping statement adds only what is new); a line the ledger
//! already has as a Djinn transfer clears it instead of posting again; a refused file is a
//! userError and changes nothing; a large file keeps the history short.

use djinn_client::Upload;
use djinn_tests::{Client, TestApp, spawn_app, spawn_app_with};
use serde_json::{Value, json};

const FILES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../statements/tests/files");

fn file(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FILES}/{name}")).expect("a statement fixture")
}

fn upload<'a>(account: &'a str, name: &'a str, content: Vec<u8>, key: &'a str) -> Upload<'a> {
    Upload {
        account_id: account,
        file_name: name,
        content,
        format: None,
        csv_profile: None,
        idempotency_key: key,
    }
}

/// Imports and waits for the import's end: the settled import.
async fn imported(client: &Client, upload: Upload<'_>) -> anyhow::Result<Value> {
    let payload = client.import_statement(upload).await?;
    anyhow::ensure!(payload["userErrors"] == json!([]), "{payload}");
    let id = payload["statementImport"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    client.settled_import(&id).await
}

fn counts(import: &Value) -> (i64, i64, i64, i64) {
    let n = |field: &str| import[field].as_i64().unwrap_or(-1);
    (
        n("linesTotal"),
        n("linesDone"),
        n("linesMatched"),
        n("linesPosted"),
    )
}

async fn balance(client: &Client, account: &str) -> anyhow::Result<String> {
    Ok(client.balances(account).await?.0)
}

async fn count(app: &TestApp, sql: &'static str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(&app.db).await?)
}

#[tokio::test]
async fn a_statement_posts_each_line_once_and_an_overlap_adds_only_what_is_new()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let client = app.client("alice");
    let (checking, _) = client.checking_and_savings("5000.00").await?;

    let first = imported(
        &client,
        upload(&checking, "nov.csv", file("generic.csv"), "nov"),
    )
    .await?;
    assert_eq!(first["status"], json!("COMPLETED"), "{first}");
    assert_eq!(counts(&first), (4, 4, 0, 4));
    // 5000.00 - 1200.00 - 3.50 - 3.50 + 2500.00: the two identical coffees are two lines.
    assert_eq!(balance(&client, &checking).await?, "6293.00");

    // The same request again answers the same import; the same key with another file is refused.
    let again = client
        .import_statement(upload(&checking, "nov.csv", file("generic.csv"), "nov"))
        .await?;
    assert_eq!(again["statementImport"]["id"], first["id"], "{again}");
    let reused = client
        .import_statement(upload(
            &checking,
            "x.csv",
            file("generic-overlapping.csv"),
            "nov",
        ))
        .await?;
    assert_eq!(
        reused["userErrors"][0]["code"],
        json!("IDEMPOTENCY_KEY_REUSED"),
        "{reused}"
    );

    // The same file under another key adds nothing; an overlapping statement adds its new line.
    let repeated = imported(
        &client,
        upload(&checking, "nov.csv", file("generic.csv"), "nov-again"),
    )
    .await?;
    assert_eq!(counts(&repeated), (4, 4, 0, 0), "{repeated}");
    let overlap = imported(
        &client,
        upload(
            &checking,
            "late.csv",
            file("generic-overlapping.csv"),
            "late",
        ),
    )
    .await?;
    assert_eq!(counts(&overlap), (4, 4, 0, 1), "{overlap}");
    assert_eq!(balance(&client, &checking).await?, "6250.90");

    // An import's posted lines are journal entries of kind import against the user's clearing
    // account, one for the money in and one for the money out (the first statement has both,
    // the overlap one line), and each line points at its leg.
    assert_eq!(
        count(&app, "SELECT count(*) FROM statement_lines").await?,
        5
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM transactions WHERE kind = 'import' AND status = 'posted'"
        )
        .await?,
        3
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM statement_lines l JOIN postings p ON p.id = l.posting_id
              JOIN transactions t ON t.id = p.transaction_id AND t.kind = 'import'"
        )
        .await?,
        5
    );
    let clearing: i64 = sqlx::query_scalar(
        "SELECT b.posted_minor FROM account_balances b JOIN accounts a ON a.id = b.account_id
          WHERE a.kind = 'clearing' AND a.currency = 'USD'",
    )
    .fetch_one(&app.db)
    .await?;
    assert_eq!(clearing, -(629_300 - 500_000 - 4_210));
    // The api read each file whole and kept what it found: the worker did not read them again
    // (its read would have set `checked_at` after the registration's).
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM statement_imports WHERE checked_at = created_at"
        )
        .await?,
        3
    );
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn a_line_the_ledger_already_has_clears_the_transfer_instead_of_posting() -> anyhow::Result<()>
{
    let app = spawn_app().await?;
    let client = app.client("bob");
    let (checking, savings) = client.checking_and_savings("1000.00").await?;
    let created = client
        .create_transfer("rent", &checking, &savings, "100.00", "USD")
        .await?;
    let transfer = created["transfer"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        client.settled_transfer(&transfer).await?["status"],
        json!("POSTED")
    );

    // The bank shows the transfer a day later, and a card payment Djinn never saw.
    let tomorrow = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    let csv = format!(
        "Date,Description,Amount\n{tomorrow},To savings,-100.00\n{tomorrow},Cinema,-5.00\n"
    );
    let import = imported(
        &client,
        upload(&checking, "bank.csv", csv.into_bytes(), "bank"),
    )
    .await?;
    assert_eq!(counts(&import), (2, 2, 1, 1), "{import}");
    assert_eq!(balance(&client, &checking).await?, "895.00");
    let cleared: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM statement_lines l JOIN postings p ON p.id = l.posting_id
          WHERE l.matched AND p.transaction_id = (SELECT id FROM transactions WHERE kind = 'transfer')",
    )
    .fetch_one(&app.db)
    .await?;
    assert_eq!(cleared, 1, "the transfer's leg is the line's");
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn every_format_imports_with_its_balances() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let client = app.client("carol");
    let euros = client.open_account("Giro", "EUR", Some("1000.00")).await?;
    let dollars = client
        .open_account("Checking", "USD", Some("1000.00"))
        .await?;

    let camt = imported(
        &client,
        upload(&euros, "camt.xml", file("camt053.xml"), "camt"),
    )
    .await?;
    // Booked entries only (the pending one is left out); the reversed credit is a debit.
    assert_eq!(counts(&camt), (3, 3, 0, 3), "{camt}");
    assert_eq!(balance(&client, &euros).await?, "1947.55");
    let ofx = imported(
        &client,
        upload(&dollars, "stmt.ofx", file("statement-2x.ofx"), "ofx2"),
    )
    .await?;
    assert_eq!(ofx["status"], json!("COMPLETED"), "{ofx}");
    let sgml = imported(
        &client,
        upload(&dollars, "stmt.qfx", file("statement-1x.ofx"), "ofx1"),
    )
    .await?;
    assert_eq!(sgml["status"], json!("COMPLETED"), "{sgml}");
    let mut giro = upload(&euros, "giro.csv", file("de-giro.csv"), "giro");
    giro.csv_profile = Some("de-giro");
    let giro = imported(&client, giro).await?;
    assert_eq!(giro["status"], json!("COMPLETED"), "{giro}");
    let stated: (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT opening_minor, closing_minor FROM statement_imports WHERE idempotency_key = 'camt'",
    )
    .fetch_one(&app.db)
    .await?;
    assert_eq!(stated, (Some(100_000), Some(194_755)));
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn a_refused_file_is_a_user_error_and_changes_nothing() -> anyhow::Result<()> {
    let app = spawn_app_with(|config| config.upload_max_bytes = 4096).await?;
    let client = app.client("dave");
    let euros = client.open_account("Giro", "EUR", Some("100.00")).await?;
    let refused = |payload: &Value| payload["userErrors"][0].clone();

    let bad = client
        .import_statement(upload(&euros, "bad.csv", file("generic-bad-date.csv"), "a"))
        .await?;
    assert_eq!(refused(&bad)["code"], json!("MALFORMED_STATEMENT"), "{bad}");
    assert!(
        refused(&bad)["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("line 3:"),
        "{bad}"
    );
    let unbalanced = client
        .import_statement(upload(&euros, "u.xml", file("camt053-unbalanced.xml"), "b"))
        .await?;
    assert_eq!(
        refused(&unbalanced)["code"],
        json!("STATEMENT_UNBALANCED"),
        "{unbalanced}"
    );
    let dollars = client
        .import_statement(upload(&euros, "s.ofx", file("statement-2x.ofx"), "c"))
        .await?;
    assert_eq!(
        refused(&dollars)["code"],
        json!("CURRENCY_MISMATCH"),
        "{dollars}"
    );
    let mut profile = upload(&euros, "g.csv", file("generic.csv"), "d");
    profile.csv_profile = Some("no-such-bank");
    let profile = client.import_statement(profile).await?;
    assert_eq!(
        refused(&profile)["code"],
        json!("INVALID_CSV_PROFILE"),
        "{profile}"
    );
    let foreign = app
        .client("erin")
        .import_statement(upload(&euros, "g.csv", file("generic.csv"), "e"))
        .await?;
    assert_eq!(
        refused(&foreign)["code"],
        json!("ACCOUNT_NOT_FOUND"),
        "{foreign}"
    );

    // Past the upload limit: 413 before anything is read.
    let (status, _) = client
        .import_statement_raw(upload(&euros, "big.csv", vec![b'x'; 8192], "f"))
        .await?;
    assert_eq!(status, 413);

    assert_eq!(
        count(&app, "SELECT count(*) FROM statement_imports").await?,
        0
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM statement_files").await?,
        0
    );
    assert_eq!(balance(&client, &euros).await?, "100.00");
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn a_large_file_is_written_in_batches_with_a_short_history() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let client = app.client("frank");
    let (checking, _) = client.checking_and_savings("100.00").await?;
    let lines = 3 * djinn_activities::statements::IMPORT_BATCH_LINES + 17;
    let mut csv = String::from("Date,Description,Amount\n");
    for n in 0..lines {
        csv.push_str(&format!("2026-11-{:02},Interest {n},0.01\n", 1 + n % 28));
    }
    let import = imported(
        &client,
        upload(&checking, "big.csv", csv.into_bytes(), "big"),
    )
    .await?;
    let total = i64::try_from(lines)?;
    assert_eq!(counts(&import), (total, total, 0, total), "{import}");
    let cents = 10_000 + lines;
    assert_eq!(
        balance(&client, &checking).await?,
        format!("{}.{:02}", cents / 100, cents % 100)
    );

    // Four batches, one activity: the history does not grow with the file.
    let workflow_id: String = sqlx::query_scalar("SELECT workflow_id FROM statement_imports")
        .fetch_one(&app.db)
        .await?;
    let history = app
        .temporal
        .get_workflow_handle::<djinn_workflows::ImportStatementWorkflow>(workflow_id)
        .fetch_history(temporalio_client::WorkflowFetchHistoryOptions::default())
        .into_events()
        .await?;
    let events = history.len();
    assert!(events < 30, "{events} events for {lines} lines");
    app.assert_ledger_consistent().await
}

#[tokio::test]
async fn a_batch_refused_mid_file_stops_the_import_and_the_batch_sent_after_it()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let client = app.client("grace");
    let (checking, _) = client.checking_and_savings("100.00").await?;
    // Three batches: the first brings 100.00 in; the second takes 500.00 out, below the
    // account's floor; the third would bring 0.17 in. The third is sent while the second is
    // written, and must write nothing.
    let batch = djinn_activities::statements::IMPORT_BATCH_LINES;
    let mut csv = String::from("Date,Description,Amount\n");
    for n in 0..(2 * batch + 17) {
        let amount = if n == batch { "-500.00" } else { "0.01" };
        csv.push_str(&format!("2026-11-{:02},Line {n},{amount}\n", 1 + n % 28));
    }
    let import = imported(
        &client,
        upload(&checking, "sinking.csv", csv.into_bytes(), "sinking"),
    )
    .await?;
    assert_eq!(import["status"], json!("FAILED"), "{import}");
    assert_eq!(
        import["failureCode"],
        json!("INSUFFICIENT_FUNDS"),
        "{import}"
    );
    assert_eq!(import["linesDone"], json!(batch), "{import}");
    assert_eq!(balance(&client, &checking).await?, "200.00");
    assert_eq!(
        count(&app, "SELECT count(*) FROM statement_lines").await?,
        i64::try_from(batch)?
    );
    app.assert_ledger_consistent().await
}
