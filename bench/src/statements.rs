//! The statement phase: a CSV statement of 1,000,000 lines imported through the GraphQL API
//! (a multipart upload, then the import workflow writing batches into the ledger), against the
//! same rows loaded with one raw `COPY` into a table of the same shape in the same database:
//! the floor. Then the account's reconciliation over the same lines, against one SQL hash join
//! of the lines with their postings: its floor. Printed: lines/s of both and their ratio
//! (target: the import at least 50 % of COPY), the reconciliation's time against the join's
//! (target: within 2x), and the peak resident memory of the worker and the api (which runs a
//! worker too) while the import ran.

use crate::usage;
use djinn_client::{Client, Upload};
use djinn_domain::Currency;
use djinn_statements::{CsvProfile, Format, read_each};
use djinn_store::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use temporalio_common::protos::temporal::api::enums::v1::EventType;

/// Lines of the statement.
pub const LINES: usize = 1_000_000;

/// The statement's rows: (date, description, amount), as the generic CSV profile reads them.
fn rows() -> impl Iterator<Item = (String, String, String)> {
    (0..LINES).map(|n| {
        let day = 1 + n % 28;
        let month = 1 + (n / 28) % 12;
        let cents = 1 + (n * 7_919) % 99_999;
        let sign = if n % 3 == 0 { "" } else { "-" };
        (
            format!("2025-{month:02}-{day:02}"),
            format!("Card payment {n}"),
            format!("{sign}{}.{:02}", cents / 100, cents % 100),
        )
    })
}

fn csv() -> Vec<u8> {
    let mut text = String::from("Date,Description,Amount\n");
    for (date, description, amount) in rows() {
        text.push_str(&format!("{date},{description},{amount}\n"));
    }
    text.into_bytes()
}

/// The floor: the same rows, with the ids the import gives them (the parser's bank ids: a hash
/// of the row, so the unique index on the account and the bank id is written in no order, as
/// the import writes it), COPYed into a table shaped like `statement_lines` with that index.
/// Lines per second. `csv` is the statement the import is given.
async fn copy_floor(pool: &PgPool, csv: &[u8]) -> anyhow::Result<f64> {
    let mut conn = pool.acquire().await?;
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS bench_copied_lines;
         CREATE TABLE bench_copied_lines (id uuid PRIMARY KEY, account_id uuid, bank_id text,
             booked_on date, amount_minor bigint, currency char(3), description text,
             UNIQUE (account_id, bank_id))",
    )
    .execute(&mut *conn)
    .await?;
    let account = uuid::Uuid::now_v7();
    let usd = Currency::parse("USD").map_err(|e| anyhow::anyhow!("{e}"))?;
    let profile =
        CsvProfile::built_in("generic").ok_or_else(|| anyhow::anyhow!("no generic profile"))?;
    let mut data = String::new();
    read_each(csv, Format::Csv, &profile, usd, &mut |line| {
        data.push_str(&format!(
            "{},{account},{},{},{},USD,{}\n",
            uuid::Uuid::now_v7(),
            line.bank_id,
            line.booked_on,
            line.amount.amount_minor(),
            line.description.unwrap_or_default()
        ));
    })
    .map_err(|e| anyhow::anyhow!("the bench's statement does not parse: {e}"))?;
    let started = Instant::now();
    let mut copy = conn
        .copy_in_raw("COPY bench_copied_lines FROM STDIN (FORMAT csv)")
        .await?;
    copy.send(data.into_bytes()).await?;
    copy.finish().await?;
    let rate = LINES as f64 / started.elapsed().as_secs_f64();
    sqlx::raw_sql("DROP TABLE bench_copied_lines")
        .execute(&mut *conn)
        .await?;
    Ok(rate)
}

/// The uuid a GraphQL global id names (nil for one that names none).
fn uuid_of(id: &str) -> uuid::Uuid {
    djinn_graphql::schema::ids::decode(id)
        .map(|(_, uuid)| uuid)
        .unwrap_or_default()
}

/// Samples the processes' resident memory until `stop`: the peak of each, in bytes.
fn sample_rss(pids: Vec<u32>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<u64>> {
    tokio::spawn(async move {
        let peaks: Vec<AtomicU64> = pids.iter().map(|_| AtomicU64::new(0)).collect();
        while !stop.load(Ordering::Relaxed) {
            for (pid, peak) in pids.iter().zip(&peaks) {
                if let Ok(rss) = usage::resident_bytes(*pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peaks
            .iter()
            .map(|peak| peak.load(Ordering::Relaxed))
            .collect()
    })
}

/// The processes whose memory and CPU the phase reads: the worker, the api (which runs a
/// worker too) and PostgreSQL's postmaster (its whole tree).
#[derive(Clone, Copy, Debug)]
pub struct Processes {
    pub worker: Option<u32>,
    pub api: Option<u32>,
    pub postmaster: Option<u32>,
}

impl Processes {
    /// CPU seconds so far of each: worker, api, PostgreSQL.
    fn cpu(&self) -> [Option<f64>; 3] {
        let own = |pid: Option<u32>| {
            pid.and_then(|pid| usage::process(pid).ok())
                .map(|u| u.cpu_seconds)
        };
        [
            own(self.worker),
            own(self.api),
            self.postmaster
                .and_then(|pid| usage::process_tree(pid).ok()),
        ]
    }
}

/// Prints where the CPU went between two readings.
fn print_cpu(before: [Option<f64>; 3], after: [Option<f64>; 3]) {
    let names = ["worker", "api", "PostgreSQL"];
    let spent: Vec<String> = names
        .iter()
        .zip(before.iter().zip(after))
        .filter_map(|(name, (b, a))| Some(format!("{name} {:.1} s", a? - (*b)?)))
        .collect();
    println!("  CPU during the import: {}", spent.join(", "));
}

/// Prints when, from the upload's start, the import was registered (the upload read and
/// checked), its workflow started, its writing activity started, it began its first and its last
/// batch, and it ended: the database's and Temporal's clocks, in seconds.
async fn print_import_phases(
    pool: &PgPool,
    temporal: &temporalio_client::Client,
    id: &str,
    started_at: f64,
) -> anyhow::Result<()> {
    let import = uuid_of(id);
    let (workflow_id, registered, first, last, ended): (String, f64, f64, f64, f64) =
        sqlx::query_as(
            "SELECT i.workflow_id, extract(epoch FROM i.created_at)::float8 - $2,
                    extract(epoch FROM min(t.created_at))::float8 - $2,
                    extract(epoch FROM max(t.created_at))::float8 - $2,
                    extract(epoch FROM i.updated_at)::float8 - $2
               FROM statement_imports i
               JOIN transactions t ON t.user_id = i.user_id AND t.kind = 'import'
                                  AND t.idempotency_key LIKE 'statement:' || i.id || ':%'
              WHERE i.id = $1
              GROUP BY i.id",
        )
        .bind(import)
        .bind(started_at)
        .fetch_one(pool)
        .await?;
    let history = temporal
        .get_workflow_handle::<djinn_workflows::ImportStatementWorkflow>(workflow_id)
        .fetch_history(temporalio_client::WorkflowFetchHistoryOptions::default())
        .into_events()
        .await?;
    let at = |event: &temporalio_common::protos::temporal::api::history::v1::HistoryEvent| {
        event.event_time.as_ref().map_or(0.0, |t| {
            t.seconds as f64 + f64::from(t.nanos) / 1e9 - started_at
        })
    };
    let workflow = history.first().map_or(0.0, at);
    let writing = history
        .iter()
        .rev()
        .find(|event| event.event_type() == EventType::ActivityTaskStarted)
        .map_or(0.0, at);
    println!(
        "  from the upload's start: registered {registered:.2} s, workflow {workflow:.2} s, \
         writing {writing:.2} s, first batch {first:.2} s, last batch {last:.2} s, \
         ended {ended:.2} s ({} events)",
        history.len()
    );
    Ok(())
}

/// Runs the phase and prints its figures.
pub async fn run(
    api: &str,
    pool: &PgPool,
    temporal: &temporalio_client::Client,
    http: &reqwest::Client,
    processes: Processes,
) -> anyhow::Result<()> {
    let (worker_pid, api_pid) = (processes.worker, processes.api);
    println!("\nstatements: {LINES} CSV lines imported through GraphQL, against COPY");
    let client = Client::new(
        api,
        &format!("statements-{}", uuid::Uuid::now_v7()),
        http.clone(),
    );
    let account = client
        .open_account("Statements", "USD", Some("1000000000.00"))
        .await?;
    let content = csv();
    let copy_rate = copy_floor(pool, &content).await?;

    let pids: Vec<u32> = [worker_pid, api_pid].into_iter().flatten().collect();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(pids.clone(), stop.clone());
    let cpu_before = processes.cpu();
    let started_at: f64 =
        sqlx::query_scalar("SELECT extract(epoch FROM clock_timestamp())::float8")
            .fetch_one(pool)
            .await?;
    let started = Instant::now();
    let payload = client
        .import_statement(Upload {
            account_id: &account,
            file_name: "statement.csv",
            content,
            format: None,
            csv_profile: None,
            idempotency_key: "bench-statement",
        })
        .await?;
    let id = payload["statementImport"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(!id.is_empty(), "the import was refused: {payload}");
    let import = client.settled_import(&id).await?;
    let import_time = started.elapsed();
    let cpu_after = processes.cpu();
    stop.store(true, Ordering::Relaxed);
    let peaks = sampler.await?;
    anyhow::ensure!(
        import["status"] == "COMPLETED",
        "the import did not complete: {import}"
    );
    let import_rate = LINES as f64 / import_time.as_secs_f64();
    println!(
        "  import      {import_rate:>10.0} lines/s ({:.1} s, {} posted)",
        import_time.as_secs_f64(),
        import["linesPosted"]
    );
    println!("  COPY floor  {copy_rate:>10.0} lines/s");
    println!(
        "  import / COPY: {:.1} %  (target >= 50 %)",
        100.0 * import_rate / copy_rate
    );
    print_cpu(cpu_before, cpu_after);
    print_import_phases(pool, temporal, &id, started_at).await?;
    for (pid, peak) in pids.iter().zip(peaks) {
        let role = if Some(*pid) == worker_pid {
            "worker"
        } else {
            "api"
        };
        println!(
            "  peak RSS of the {role} during the import: {} MiB",
            peak / (1024 * 1024)
        );
    }
    reconcile(&client, pool, &account).await
}

/// The account's reconciliation over the statement's year, against the hash join. The lines
/// are read once before either: the first read of rows just written sets their hint bits
/// (writing every page again), a cost that would otherwise fall on whichever runs first.
async fn reconcile(client: &Client, pool: &PgPool, account: &str) -> anyhow::Result<()> {
    let account_uuid = uuid_of(account);
    let warmed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM statement_lines WHERE account_id = $1")
            .bind(account_uuid)
            .fetch_one(pool)
            .await?;
    anyhow::ensure!(warmed == LINES as i64, "{warmed} lines, not {LINES}");
    let started = Instant::now();
    let payload = client
        .reconcile_account(account, "2025-01-01", "2025-12-31")
        .await?;
    let id = payload["reconciliationRun"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(!id.is_empty(), "the reconciliation was refused: {payload}");
    let answered = started.elapsed();
    let run = client.settled_run(&id).await?;
    let run_time = started.elapsed();
    anyhow::ensure!(
        run["status"] == "COMPLETED",
        "the reconciliation failed: {run}"
    );
    // The run's own clock: registered (the request's transaction) to the start of the pass's
    // transaction (`completed_at` is that transaction's now()).
    let run_uuid = uuid_of(&id);
    let to_pass: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM completed_at - created_at)::float8 FROM reconciliation_runs
          WHERE id = $1",
    )
    .bind(run_uuid)
    .fetch_one(pool)
    .await?;
    let mut tx = pool.begin().await?;
    sqlx::raw_sql("SET LOCAL enable_nestloop = off; SET LOCAL enable_mergejoin = off")
        .execute(&mut *tx)
        .await?;
    let joined_at = Instant::now();
    let joined: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM statement_lines l JOIN postings p ON p.id = l.posting_id
          WHERE l.account_id = $1",
    )
    .bind(account_uuid)
    .fetch_one(&mut *tx)
    .await?;
    let join_time = joined_at.elapsed();
    tx.commit().await?;
    println!(
        "\nreconciliation of {LINES} lines: {:.2} s (matched {}), hash join floor {:.2} s ({joined} rows)",
        run_time.as_secs_f64(),
        run["matchedCount"],
        join_time.as_secs_f64()
    );
    println!(
        "  of which: the request answered in {:.2} s; registration to the pass's start {:.2} s",
        answered.as_secs_f64(),
        to_pass
    );
    println!(
        "  reconciliation / join: {:.1}x  (target <= 2x)",
        run_time.as_secs_f64() / join_time.as_secs_f64()
    );
    Ok(())
}
