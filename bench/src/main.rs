#![allow(clippy::float_arithmetic)] // Rates and percentiles of a benchmark, never amounts of money.
//! Drives N transfers through the running API (as GraphQL clients would) and N no-op workflows
//! of each kind (`Noop`) through the same Temporal server, then prints throughput, latency
//! percentiles and the CPU of every process. `scripts/bench.sh` starts the stack and passes
//! the pids. The no-ops it starts eagerly run on a worker of its own, in this process, as the
//! transfers the API starts run on the API's.
//!
//! The phases are interleaved in rounds whose order rotates (no-op, eager no-op, as a transfer,
//! with steps, transfers; then eager no-op, ..., transfers, no-op; ...), because the server's speed
//! drifts within a run (the in-memory store slows as it fills; this machine's speed varies):
//! run one after the other, each phase would be measured on a different server.

mod server_metrics;
mod usage;

use anyhow::bail;
use clap::Parser;
use djinn_activities::{db, temporal};
use djinn_domain::{AccountId, Currency, Money, OperationId, TransferRequest, UserId};
use djinn_tests::Client;
use djinn_workflows::memo;
use djinn_workflows::search_attributes::{DJINN_OPERATION, DJINN_STATUS, DJINN_USER_ID};
use djinn_workflows::{NoopInput, NoopWorkflow};
use futures::StreamExt;
use server_metrics::ServerCounters;
use std::time::{Duration, Instant};
use temporalio_client::{
    WorkflowGetResultOptions, WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowStartOptions,
};
use temporalio_common::MemoValues;
use temporalio_common::search_attributes::SearchAttributes;
use usage::TICKS_PER_SECOND;

#[derive(Parser, Debug)]
struct Args {
    /// Transfers to run (and no-op workflows for the ceiling).
    #[arg(long, default_value_t = 2000)]
    transfers: usize,
    /// Rounds: each runs a share of every phase, in an order that rotates from round to round,
    /// so that the server's drift within a run falls on every phase alike.
    #[arg(long, default_value_t = 4)]
    rounds: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Users (each with a funded source and a destination account).
    #[arg(long, default_value_t = 32)]
    users: usize,
    #[arg(
        long,
        env = "DJINN_BENCH_API",
        default_value = "http://127.0.0.1:18080"
    )]
    api: String,
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    #[arg(long, env = "DJINN_TASK_QUEUE", default_value = "djinn")]
    task_queue: String,
    #[arg(long)]
    worker_pid: Option<u32>,
    #[arg(long)]
    api_pid: Option<u32>,
    /// The Temporal server's pid: its CPU per workflow is printed for each phase, a steadier
    /// figure than the rates when the machine's speed drifts.
    #[arg(long)]
    temporal_pid: Option<u32>,
    /// The Temporal server's Prometheus endpoint: its persistence requests and shard write
    /// times per workflow are printed for each phase. They count the server's work, unlike rates.
    #[arg(long)]
    temporal_metrics: Option<String>,
}

/// The processes whose CPU each phase accounts for, in the order they are printed.
const PROCESSES: [&str; 5] = ["server", "worker", "api", "postgres", "bench"];
/// The worker's and the api's places in `PROCESSES`.
const WORKER: usize = 1;
const API: usize = 2;

/// What the processes under test have done so far, read before and after each phase.
struct Readings {
    /// CPU seconds of each of `PROCESSES`, when its pid is known.
    cpu_seconds: [Option<f64>; PROCESSES.len()],
    counters: Option<ServerCounters>,
}

impl Readings {
    async fn take(
        args: &Args,
        postmaster: Option<u32>,
        http: &reqwest::Client,
    ) -> anyhow::Result<Self> {
        let cpu_seconds = |pid: Option<u32>| {
            pid.map(|pid| usage::process(pid).map(|reading| reading.cpu_seconds))
                .transpose()
        };
        let counters = match &args.temporal_metrics {
            Some(url) => Some(ServerCounters::read(http, url).await?),
            None => None,
        };
        Ok(Self {
            cpu_seconds: [
                cpu_seconds(args.temporal_pid)?,
                cpu_seconds(args.worker_pid)?,
                cpu_seconds(args.api_pid)?,
                postmaster.map(usage::process_tree).transpose()?,
                cpu_seconds(Some(std::process::id()))?,
            ],
            counters,
        })
    }
}

/// One kind of load, measured over all rounds: its rate is its count over its own time.
struct Phase {
    name: &'static str,
    elapsed: Duration,
    latencies: Vec<Duration>,
    last_rate: f64,
    /// CPU seconds each of `PROCESSES` spent on this phase.
    cpu_seconds: [f64; PROCESSES.len()],
    machine_busy_ticks: f64,
    machine_ticks: f64,
    server: ServerCounters,
}

impl Phase {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            elapsed: Duration::ZERO,
            latencies: Vec::new(),
            last_rate: 0.0,
            cpu_seconds: [0.0; PROCESSES.len()],
            machine_busy_ticks: 0.0,
            machine_ticks: 0.0,
            server: ServerCounters::default(),
        }
    }

    fn record(&mut self, elapsed: Duration, latencies: Vec<Duration>) {
        self.last_rate = latencies.len() as f64 / elapsed.as_secs_f64();
        self.elapsed += elapsed;
        self.latencies.extend(latencies);
    }

    fn add_readings(&mut self, before: &Readings, after: &Readings) {
        for (spent, (before, after)) in self
            .cpu_seconds
            .iter_mut()
            .zip(before.cpu_seconds.iter().zip(&after.cpu_seconds))
        {
            if let (Some(before), Some(after)) = (before, after) {
                *spent += after - before;
            }
        }
        if let (Some(before), Some(after)) = (&before.counters, &after.counters) {
            self.server.add_difference(before, after);
        }
    }

    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// One line: this phase's CPU per workflow in each process, and in the whole machine while
    /// the load ran.
    fn print_cpu_per_workflow(&self) {
        let count = self.latencies.len().max(1) as f64;
        let by_process = PROCESSES
            .iter()
            .zip(&self.cpu_seconds)
            .map(|(name, seconds)| format!("{name} {:.2}", seconds * 1000.0 / count))
            .collect::<Vec<_>>()
            .join(", ");
        let machine = self.machine_ms_per_workflow();
        println!(
            "  {:<27} {by_process}; machine {machine:.2} ({:.0} % busy)",
            self.name,
            self.machine_busy_percent()
        );
    }

    /// CPU milliseconds the whole machine spent per workflow while this phase ran.
    fn machine_ms_per_workflow(&self) -> f64 {
        let count = self.latencies.len().max(1) as f64;
        self.machine_busy_ticks * 1000.0 / TICKS_PER_SECOND / count
    }

    fn machine_busy_percent(&self) -> f64 {
        100.0 * self.machine_busy_ticks / self.machine_ticks.max(1.0)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn print_percentiles(label: &str, latencies: &mut [Duration]) {
    latencies.sort();
    let [p50, p95, p99] = [50.0, 95.0, 99.0].map(|p| millis(percentile(latencies, p)));
    println!("  {label:<27} p50 {p50}  p95 {p95}  p99 {p99}");
}

/// The no-op phases: the plain ceiling, the ceiling when started as the API starts workflows
/// (eagerly, to a worker in the starting process), then what a transfer adds on Temporal's
/// side, one thing at a time, so that the gap between the ceilings and the transfers can be
/// divided.
#[derive(Clone, Copy, Debug)]
enum Noop {
    /// Started and awaited by run id, nothing else, its task dispatched to `djinn worker`: the
    /// server's ceiling as any client and worker see it.
    Plain,
    /// The same, started with Eager Workflow Start: the start's answer carries the run's first
    /// task, which the benchmark's own worker runs, as the API runs the transfers it starts.
    Eager,
    /// Started as the API starts a transfer (eagerly, with its search attributes, memo,
    /// id-reuse and id-conflict policies), upserting DjinnStatus once, and awaited by workflow
    /// id alone, as the benchmark must await a transfer (the API returns no run id).
    AsTransfer,
    /// The same, plus one local activity that does nothing, as a transfer's ledger step,
    /// an input padded to a transfer's size and ids shaped like a transfer's.
    AsTransferWithSteps,
}

impl Noop {
    /// Every kind, in the order of their phases.
    const ALL: [Noop; 4] = [
        Noop::Plain,
        Noop::Eager,
        Noop::AsTransfer,
        Noop::AsTransferWithSteps,
    ];

    /// The name of its phase.
    fn name(self) -> &'static str {
        match self {
            Noop::Plain => "no-op",
            Noop::Eager => "no-op, eager start",
            Noop::AsTransfer => "no-op as a transfer",
            Noop::AsTransferWithSteps => "no-op + a local step",
        }
    }

    /// The task queue the benchmark's own worker serves: eager starts hand it their tasks.
    fn task_queue(self, args: &Args) -> String {
        match self {
            Noop::Plain => args.task_queue.clone(),
            Noop::Eager | Noop::AsTransfer | Noop::AsTransferWithSteps => eager_queue(args),
        }
    }
}

fn eager_queue(args: &Args) -> String {
    format!("{}-eager", args.task_queue)
}

/// Starts `count` no-op workflows, `args.concurrency` at a time, each awaited to its end;
/// returns the latency of each.
async fn run_noops(
    temporal: &temporalio_client::Client,
    args: &Args,
    count: usize,
    run: &str,
    kind: Noop,
    padding: &str,
    users: &[String],
) -> anyhow::Result<Vec<Duration>> {
    // The memo a transfer starts with: its summary, of a transfer's length.
    let mut transfer_memo = MemoValues::new();
    transfer_memo.insert(memo::SUMMARY, memo::transfer_summary(&example_transfer()?));
    let results: Vec<anyhow::Result<Duration>> = futures::stream::iter(0..count)
        .map(|i| {
            // The phase with steps is shaped like a transfer in all but the ledger: one step,
            // an input of a transfer's size, one of the users' ids in DjinnUserId and in a
            // workflow id of a transfer's length.
            let with_steps = matches!(kind, Noop::AsTransferWithSteps);
            let user = &users[i % users.len()];
            let (workflow_id, user_attribute) = if with_steps {
                (format!("noop:{user}:{run}-{i}"), user.clone())
            } else {
                (format!("bench-noop:{run}:{i}"), run.to_owned())
            };
            let builder = WorkflowStartOptions::new(kind.task_queue(args), workflow_id.clone())
                .enable_eager_workflow_start(!matches!(kind, Noop::Plain));
            let (options, input) = match kind {
                Noop::Plain | Noop::Eager => (builder.build(), NoopInput::default()),
                Noop::AsTransfer | Noop::AsTransferWithSteps => (
                    builder
                        .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
                        .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
                        .search_attributes(SearchAttributes::new([
                            DJINN_USER_ID.value_set(user_attribute),
                            DJINN_OPERATION.value_set("noop".to_owned()),
                            DJINN_STATUS.value_set("PENDING".to_owned()),
                        ]))
                        .memo(transfer_memo.clone())
                        .build(),
                    NoopInput {
                        upsert_status: Some("POSTED".to_owned()),
                        local_steps: u8::from(with_steps),
                        padding: if with_steps {
                            padding.to_owned()
                        } else {
                            String::new()
                        },
                    },
                ),
            };
            async move {
                let started = Instant::now();
                let handle = temporal
                    .start_workflow(NoopWorkflow::run, input, options)
                    .await?;
                match kind {
                    Noop::Plain | Noop::Eager => {
                        handle
                            .get_result(WorkflowGetResultOptions::default())
                            .await?
                    }
                    Noop::AsTransfer | Noop::AsTransferWithSteps => {
                        temporal
                            .get_workflow_handle::<NoopWorkflow>(workflow_id)
                            .get_result(WorkflowGetResultOptions::default())
                            .await?
                    }
                };
                Ok(started.elapsed())
            }
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    results.into_iter().collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let pool = db::connect(&args.database_url, 4).await?;
    // PostgreSQL's CPU is read from its whole process tree, found through one of our backends;
    // a server that is not a local process (another host, a container) has no figure.
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&pool)
        .await?;
    let postmaster = u32::try_from(backend)
        .ok()
        .and_then(|pid| usage::parent(pid).ok());
    let codec = std::env::var("DJINN_CODEC_KEYS")
        .ok()
        .map(|keys| djinn_activities::codec::EncryptionCodec::from_keys(&keys.into()))
        .transpose()?;
    let temporal = temporal::connect_from_env("djinn-bench", codec.as_ref()).await?;
    // The benchmark's own worker, on the client it starts no-ops with, runs the ones it starts
    // eagerly, as the API runs the transfers it starts.
    let (stop_worker, worker_stopped) = tokio::sync::oneshot::channel::<()>();
    let worker_settings = djinn::config::WorkerSettings::inside_api("djinn-bench");
    let worker_queue = eager_queue(&args);
    let worker = djinn::worker::run(
        pool.clone(),
        temporal.clone(),
        &worker_queue,
        &worker_settings,
        async move {
            let _ = worker_stopped.await;
        },
    );
    let measured = async {
        let measured = measure(&args, &pool, &temporal, postmaster).await;
        let _ = stop_worker.send(());
        measured
    };
    // A failed worker ends the benchmark: the eager phases would wait for it for ever.
    tokio::try_join!(measured, worker)?;
    Ok(())
}

/// Sets up users and accounts, runs every phase in rounds and prints the figures.
async fn measure(
    args: &Args,
    pool: &sqlx::PgPool,
    temporal: &temporalio_client::Client,
    postmaster: Option<u32>,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;

    println!("setting up {} users ...", args.users);
    let mut pairs = Vec::new();
    for user in 0..args.users {
        let client = Client {
            address: args.api.clone(),
            token: djinn_tests::token_for(&format!(
                "bench-{user}-{}",
                uuid::Uuid::now_v7().simple()
            )),
            http: http.clone(),
        };
        let from = client
            .open_account("Source", "USD", Some("1000000.00"))
            .await?;
        let to = client.open_account("Destination", "USD", None).await?;
        pairs.push((client, from, to));
    }

    // Warm up connections, caches and the JIT-less but cold paths.
    run_transfers(temporal, &pairs, 50, args.concurrency, "warmup").await?;

    let run = uuid::Uuid::now_v7().simple().to_string();
    let user_ids: Vec<String> = (0..args.users.max(1))
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let padding = "x".repeat(transfer_input_bytes(&format!(
        "{run}-r0-{}",
        args.transfers
    ))?);
    let rounds = args.rounds.clamp(1, args.transfers.max(1));
    let per_round = args.transfers / rounds;
    // The no-op phases in the order of `Noop::ALL`, then the transfers.
    let mut phases: Vec<Phase> = Noop::ALL
        .iter()
        .map(|kind| Phase::new(kind.name()))
        .chain([Phase::new("transfers")])
        .collect();
    let transfers_phase = Noop::ALL.len();
    let mut mutation_latencies = Vec::new();
    let mut round_ratios = Vec::with_capacity(rounds);
    let mut eager_round_ratios = Vec::with_capacity(rounds);
    println!(
        "{rounds} rounds of {per_round} workflows of each no-op kind and {per_round} transfers ..."
    );
    for round in 0..rounds {
        let tag = format!("{run}-r{round}");
        for step in 0..phases.len() {
            let which = (round + step) % phases.len();
            let before = Readings::take(args, postmaster, &http).await?;
            let machine_before = usage::machine()?;
            let started = Instant::now();
            let latencies = match which {
                _ if which < transfers_phase => {
                    let kind = Noop::ALL[which];
                    let run = format!("{tag}-{which}");
                    run_noops(temporal, args, per_round, &run, kind, &padding, &user_ids).await?
                }
                _ => {
                    let (mutations, to_posted) =
                        run_transfers(temporal, &pairs, per_round, args.concurrency, &tag).await?;
                    wait_posted(pool, &tag, per_round).await?;
                    mutation_latencies.extend(mutations);
                    to_posted
                }
            };
            let elapsed = started.elapsed();
            let machine_after = usage::machine()?;
            phases[which].machine_busy_ticks += machine_after.0 - machine_before.0;
            phases[which].machine_ticks += machine_after.1 - machine_before.1;
            if args.temporal_pid.is_some() || args.temporal_metrics.is_some() {
                // The server finishes a workflow's last tasks (visibility, cleanup) just after
                // the client sees its result; let them land in the phase that caused them.
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            let after = Readings::take(args, postmaster, &http).await?;
            phases[which].add_readings(&before, &after);
            phases[which].record(elapsed, latencies);
        }
        println!(
            "  round {}: {}",
            round + 1,
            phases
                .iter()
                .map(|phase| format!("{} {:.1}/s", phase.name, phase.last_rate))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let transfers_rate = phases[transfers_phase].last_rate;
        round_ratios.push(100.0 * transfers_rate / phases[0].last_rate);
        eager_round_ratios.push(100.0 * transfers_rate / phases[1].last_rate);
    }
    let noop_rate = phases[0].rate();
    let eager_rate = phases[1].rate();
    let transfer_rate = phases[transfers_phase].rate();
    let transfer_count = per_round * rounds;

    // The ledger's own clock: from the operation's registration to the commit that posted it.
    let mut ledger_to_posted: Vec<Duration> = sqlx::query_scalar::<_, f64>(
        "SELECT extract(epoch FROM updated_at - created_at)::float8 FROM operations WHERE idempotency_key LIKE $1 || '%' AND status = 'posted'",
    )
    .bind(format!("{run}-r"))
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(Duration::from_secs_f64)
    .collect();

    println!();
    println!(
        "Djinn benchmark: {transfer_count} transfers, {} in flight, {} users, {rounds} rounds",
        args.concurrency, args.users
    );
    println!("  no-op workflow ceiling      {noop_rate:8.1} workflows/s");
    println!(
        "  no-op, eager start          {eager_rate:8.1} workflows/s ({:.1} %: started as the API starts workflows, its first task in the start's answer)",
        100.0 * eager_rate / noop_rate
    );
    println!(
        "  no-op as a transfer         {:8.1} workflows/s ({:.1} % of the eager no-op: started as the API starts a transfer, upserting DjinnStatus, awaited by id)",
        phases[2].rate(),
        100.0 * phases[2].rate() / eager_rate
    );
    println!(
        "  + an empty local step       {:8.1} workflows/s ({:.1} % of the eager no-op: the same with a local activity that does nothing and a transfer-sized input)",
        phases[3].rate(),
        100.0 * phases[3].rate() / eager_rate
    );
    println!(
        "  transfers end to end        {transfer_rate:8.1} transfers/s ({:.1} s, each awaited to POSTED)",
        phases[transfers_phase].elapsed.as_secs_f64()
    );
    println!(
        "  ratio to ceiling            {:8.1} %  (target >= 80 %)",
        100.0 * transfer_rate / noop_rate
    );
    println!(
        "  ratio to eager ceiling      {:8.1} %  (to the no-op started as transfers are)",
        100.0 * transfer_rate / eager_rate
    );
    // The machine's speed drifts within a run: the rounds show how far the ratios move with it.
    for (label, ratios) in [
        ("ratio in each round", &round_ratios),
        ("eager ratio in each round", &eager_round_ratios),
    ] {
        println!(
            "  {label:<27} {} %  (median {:.1} %)",
            ratios
                .iter()
                .map(|ratio| format!("{ratio:.1}"))
                .collect::<Vec<_>>()
                .join(", "),
            median(ratios)
        );
    }
    // When both phases keep the machine busy, their rates stand in the inverse ratio of the CPU
    // each workflow costs the whole machine; that ratio moves far less from run to run.
    let transfer_cpu = phases[transfers_phase]
        .machine_ms_per_workflow()
        .max(f64::MIN_POSITIVE);
    for (label, ceiling) in [
        ("ratio of machine CPU", 0),
        ("eager ratio of machine CPU", 1),
    ] {
        println!(
            "  {label:<27} {:8.1} %  (CPU per {} / CPU per transfer, machine {:.0} % and {:.0} % busy)",
            100.0 * phases[ceiling].machine_ms_per_workflow() / transfer_cpu,
            phases[ceiling].name,
            phases[ceiling].machine_busy_percent(),
            phases[transfers_phase].machine_busy_percent()
        );
    }
    println!("  CPU ms per workflow, by process (the machine's figure covers the load only):");
    for phase in &phases {
        phase.print_cpu_per_workflow();
    }
    if args.temporal_metrics.is_some() {
        for phase in &phases {
            phase
                .server
                .print_per_workflow(phase.name, phase.latencies.len());
        }
    }
    for phase in &mut phases[..transfers_phase] {
        print_percentiles(phase.name, &mut phase.latencies);
    }
    print_percentiles("createTransfer latency", &mut mutation_latencies);
    let transfers = &mut phases[transfers_phase];
    print_percentiles("time to POSTED (client)", &mut transfers.latencies);
    print_percentiles("time to POSTED (ledger)", &mut ledger_to_posted);
    // The API runs the transfers it starts (eager starts), so a transfer's workflow and ledger
    // step cost the api process; `djinn worker` runs only what is not started eagerly.
    let per_thousand =
        |process: usize| transfers.cpu_seconds[process] * 1000.0 / transfer_count as f64;
    if let Some(pid) = args.api_pid {
        let api = usage::process(pid)?;
        println!(
            "  api CPU                     {:8.2} s per 1,000 transfers (GraphQL, and its worker, which runs them)",
            per_thousand(API)
        );
        println!("  api peak RSS                {:8.1} MiB", api.peak_rss_mib);
    }
    if let Some(pid) = args.worker_pid {
        println!(
            "  worker CPU                  {:8.2} s per 1,000 transfers (djinn worker: tasks not started eagerly)",
            per_thousand(WORKER)
        );
        println!(
            "  worker peak RSS             {:8.1} MiB",
            usage::process(pid)?.peak_rss_mib
        );
    }
    Ok(())
}

/// A transfer like the benchmark's (0.01 USD between two accounts, no description).
fn example_transfer() -> anyhow::Result<TransferRequest> {
    Ok(TransferRequest::new(
        AccountId::generate(),
        AccountId::generate(),
        Money::from_minor(1, Currency::parse("USD")?),
        None,
    )?)
}

/// The size of a transfer's workflow input as the API sends it (JSON, before the codec), with an
/// idempotency key like the benchmark's.
fn transfer_input_bytes(key: &str) -> anyhow::Result<usize> {
    let input = djinn_workflows::TransferInput {
        transfer_id: OperationId::generate(),
        user_id: UserId::generate(),
        idempotency_key: key.to_owned(),
        request: example_transfer()?,
    };
    Ok(serde_json::to_vec(&input)?.len())
}

/// Sends `count` transfers spread over the users, `concurrency` at a time, each waiting for its
/// workflow to finish (the transfer POSTED) before the next one starts: the same closed loop as
/// the no-op phase, so both put the same kind of load on the server. Returns the latency of each
/// mutation and of each transfer from request to POSTED. Keys are "<run>-<i>".
async fn run_transfers(
    temporal: &temporalio_client::Client,
    pairs: &[(Client, String, String)],
    count: usize,
    concurrency: usize,
    run: &str,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let results: Vec<anyhow::Result<(Duration, Duration)>> = futures::stream::iter(0..count)
        .map(|i| {
            let (client, from, to) = &pairs[i % pairs.len()];
            let key = format!("{run}-{i}");
            async move {
                let started = Instant::now();
                let payload = client
                    .create_transfer(&key, from, to, "0.01", "USD")
                    .await?;
                let mutation = started.elapsed();
                let Some(workflow_id) = payload["transfer"]["workflowId"].as_str() else {
                    bail!("transfer refused: {payload}");
                };
                let outcome = temporal
                    .get_workflow_handle::<djinn_workflows::TransferWorkflow>(workflow_id)
                    .get_result(WorkflowGetResultOptions::default())
                    .await?;
                if outcome.status != djinn_workflows::TransferStatus::Posted {
                    bail!("transfer {workflow_id} ended {:?}", outcome.status);
                }
                Ok((mutation, started.elapsed()))
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut mutations = Vec::with_capacity(count);
    let mut to_posted = Vec::with_capacity(count);
    for result in results {
        let (mutation, posted) = result?;
        mutations.push(mutation);
        to_posted.push(posted);
    }
    Ok((mutations, to_posted))
}

async fn wait_posted(pool: &sqlx::PgPool, run: &str, count: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let posted: i64 = sqlx::query_scalar("SELECT count(*) FROM operations WHERE idempotency_key LIKE $1 || '-%' AND status = 'posted'")
            .bind(run)
            .fetch_one(pool)
            .await?;
        if posted as usize >= count {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {posted} of {count} transfers posted");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
