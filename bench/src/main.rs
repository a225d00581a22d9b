#![allow(clippy::float_arithmetic)] // Rates and percentiles of a benchmark, never amounts of money.
//! Drives N transfers through the running API (as GraphQL clients would) and N no-op workflows
//! of each kind (`Noop`) through the same Temporal server, then prints throughput, latency
//! percentiles and the CPU of every process. `scripts/bench.sh` starts the stack and passes
//! the pids. The no-ops run on workers of its own, in this process (`workers`): the eager ones
//! on the client that starts them, as the transfers the API starts run on the API's.
//!
//! Then the reads: one account, its balance and its 50 newest entries through GraphQL against
//! the same SQL over a raw pool (`reads`); then a statement of 1,000,000 lines imported against
//! a raw COPY, and its reconciliation against a hash join (`statements`).
//!
//! With `--traced-api`, the transfers run a second time in each round through an api that
//! exports every span over OTLP to a receiver in this process (`otlp_sink`): the cost of
//! tracing, as a ratio of the two transfer phases' rates.
//!
//! The phases are interleaved in rounds whose order rotates (no-op, eager no-op, as a transfer,
//! with steps, transfers; then eager no-op, ..., transfers, no-op; ...), because the machine's
//! speed drifts within a run: run one after the other, each phase would be measured on a
//! different machine.

mod noop;
mod otlp_sink;
mod phases;
mod reads;
mod report;
mod server_metrics;
mod statements;
mod usage;
mod workers;

use clap::Parser;
use djinn::config::WorkerSettings;
use djinn_client::Client;
use djinn_store::{PgPool, db};
use phases::{
    Noop, eager_queue, plain_queue, run_noops, run_transfers, transfer_input_bytes, wait_posted,
};
use report::{Phase, Readings};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
pub struct Args {
    /// Transfers to run (and no-op workflows for the ceiling).
    #[arg(long, default_value_t = 2000)]
    pub transfers: usize,
    /// Rounds: each runs a share of every phase, in an order that rotates from round to round,
    /// so that the server's drift within a run falls on every phase alike.
    #[arg(long, default_value_t = 4)]
    pub rounds: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Users (each with a funded source and a destination account).
    #[arg(long, default_value_t = 32)]
    pub users: usize,
    #[arg(
        long,
        env = "DJINN_BENCH_API",
        default_value = "http://127.0.0.1:18080"
    )]
    pub api: String,
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    #[arg(long, env = "DJINN_TASK_QUEUE", default_value = "djinn")]
    pub task_queue: String,
    /// An api that exports its spans to `--otlp-listen`: the transfers run through it too.
    #[arg(long, env = "DJINN_BENCH_TRACED_API")]
    pub traced_api: Option<String>,
    #[arg(long)]
    pub traced_api_pid: Option<u32>,
    /// Where the OTLP/HTTP receiver of the traced api's spans listens.
    #[arg(long, default_value = "127.0.0.1:18090")]
    pub otlp_listen: String,
    #[arg(long)]
    pub worker_pid: Option<u32>,
    /// Runs only the statement phase (import against COPY, reconciliation against a join).
    #[arg(long)]
    pub statements_only: bool,
    #[arg(long)]
    pub api_pid: Option<u32>,
    /// The Temporal server's pid: its CPU per workflow is printed for each phase, a steadier
    /// figure than the rates when the machine's speed drifts.
    #[arg(long)]
    pub temporal_pid: Option<u32>,
    /// The Temporal server's Prometheus endpoint: its persistence requests and shard write
    /// times per workflow are printed for each phase. They count the server's work, unlike rates.
    #[arg(long)]
    pub temporal_metrics: Option<String>,
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
        .map(|keys| djinn_temporal::codec::EncryptionCodec::from_keys(&keys.into()))
        .transpose()?;
    let temporal = djinn_temporal::connect_from_env("djinn-bench", codec.as_ref()).await?;
    // The benchmark's own workers: one on the client it starts no-ops with runs the ones it
    // starts eagerly, as the API runs the transfers it starts; the other polls as `djinn
    // worker` does and runs the plain no-ops, whose tasks the server dispatches.
    let (stop_workers, workers_stopped) = tokio::sync::watch::channel(false);
    let stopped = |mut receiver: tokio::sync::watch::Receiver<bool>| async move {
        let _ = receiver.wait_for(|stop| *stop).await;
    };
    let eager_settings = WorkerSettings::inside_api("djinn-bench");
    let eager_queue = eager_queue(&args);
    let eager = workers::run(
        temporal.clone(),
        &eager_queue,
        &eager_settings,
        stopped(workers_stopped.clone()),
    );
    let plain_settings = WorkerSettings::default();
    let plain_queue = plain_queue(&args);
    let plain = workers::run(
        temporal.clone(),
        &plain_queue,
        &plain_settings,
        stopped(workers_stopped),
    );
    let measured = async {
        let measured = measure(&args, &pool, &temporal, postmaster).await;
        let _ = stop_workers.send(true);
        measured
    };
    // A failed worker ends the benchmark: the no-op phases would wait for it for ever.
    tokio::try_join!(measured, eager, plain)?;
    Ok(())
}

/// What the rounds measured.
pub struct Rounds {
    /// The no-op phases in the order of `Noop::ALL`, then the transfers.
    pub phases: Vec<Phase>,
    pub mutation_latencies: Vec<Duration>,
    /// The transfers' rate against the plain and the eager no-op's, in each round.
    pub ratios: Vec<f64>,
    pub eager_ratios: Vec<f64>,
    /// The traced transfers' rate against the untraced ones', in each round.
    pub traced_ratios: Vec<f64>,
    /// Spans the traced api exported.
    pub spans_exported: u64,
    pub count: usize,
}

/// Sets up users and accounts, runs every phase in rounds and prints the figures.
async fn measure(
    args: &Args,
    pool: &PgPool,
    temporal: &temporalio_client::Client,
    postmaster: Option<u32>,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let processes = statements::Processes {
        worker: args.worker_pid,
        api: args.api_pid,
        postmaster,
    };
    if args.statements_only {
        return statements::run(&args.api, pool, temporal, &http, processes).await;
    }
    let pairs = open_accounts(args, &http).await?;
    let sink = match &args.traced_api {
        Some(_) => Some(otlp_sink::start(&args.otlp_listen).await?),
        None => None,
    };
    let traced: Option<Vec<_>> = args.traced_api.as_ref().map(|traced_api| {
        pairs
            .iter()
            .map(|(client, from, to)| {
                let client = Client {
                    address: traced_api.clone(),
                    ..client.clone()
                };
                (client, from.clone(), to.clone())
            })
            .collect()
    });
    // Warm up connections, caches and the JIT-less but cold paths.
    run_transfers(temporal, &pairs, 50, args.concurrency, "warmup").await?;
    if let Some(traced) = &traced {
        run_transfers(temporal, traced, 50, args.concurrency, "warmup-traced").await?;
    }
    let run = uuid::Uuid::now_v7().simple().to_string();
    let all_pairs = Pairs {
        plain: &pairs,
        traced: traced.as_deref(),
    };
    let mut rounds = run_rounds(args, pool, temporal, postmaster, &http, all_pairs, &run).await?;
    rounds.spans_exported = sink.map_or(0, |sink| sink.spans());
    // The ledger's own clock: from the operation's registration to the commit that posted it.
    let ledger_to_posted: Vec<Duration> = sqlx::query_scalar::<_, f64>(
        "SELECT extract(epoch FROM updated_at - created_at)::float8 FROM operations WHERE idempotency_key LIKE $1 || '%' AND status = 'posted'",
    )
    .bind(format!("{run}-r"))
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(Duration::from_secs_f64)
    .collect();
    report::print(args, rounds, ledger_to_posted)?;
    reads::run(&args.api, &args.database_url, &http).await?;
    statements::run(&args.api, pool, temporal, &http, processes).await
}

/// A client per user, each with a funded source and an empty destination account.
async fn open_accounts(
    args: &Args,
    http: &reqwest::Client,
) -> anyhow::Result<Vec<(Client, String, String)>> {
    println!("setting up {} users ...", args.users);
    let mut pairs = Vec::new();
    for user in 0..args.users {
        let uid = format!("bench-{user}-{}", uuid::Uuid::now_v7().simple());
        let client = Client::new(&args.api, &uid, http.clone());
        let from = client
            .open_account("Source", "USD", Some("1000000.00"))
            .await?;
        let to = client.open_account("Destination", "USD", None).await?;
        pairs.push((client, from, to));
    }
    Ok(pairs)
}

/// The users' account pairs, through the plain api and, when there is one, the traced api.
#[derive(Clone, Copy)]
struct Pairs<'a> {
    plain: &'a [(Client, String, String)],
    traced: Option<&'a [(Client, String, String)]>,
}

/// Runs every phase in `args.rounds` rounds, in an order that rotates from round to round.
async fn run_rounds(
    args: &Args,
    pool: &PgPool,
    temporal: &temporalio_client::Client,
    postmaster: Option<u32>,
    http: &reqwest::Client,
    pairs: Pairs<'_>,
    run: &str,
) -> anyhow::Result<Rounds> {
    let user_ids: Vec<String> = (0..args.users.max(1))
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let padding = "x".repeat(transfer_input_bytes(&format!(
        "{run}-r0-{}",
        args.transfers
    ))?);
    let rounds = args.rounds.clamp(1, args.transfers.max(1));
    let per_round = args.transfers / rounds;
    let mut measured = Rounds {
        phases: Noop::ALL
            .iter()
            .map(|kind| Phase::new(kind.name()))
            .chain(pairs.traced.map(|_| Phase::new("transfers traced")))
            .chain([Phase::new("transfers")])
            .collect(),
        mutation_latencies: Vec::new(),
        ratios: Vec::with_capacity(rounds),
        eager_ratios: Vec::with_capacity(rounds),
        traced_ratios: Vec::with_capacity(rounds),
        spans_exported: 0,
        count: per_round * rounds,
    };
    let transfers_phase = measured.phases.len() - 1;
    println!(
        "{rounds} rounds of {per_round} workflows of each no-op kind and {per_round} transfers ..."
    );
    for round in 0..rounds {
        let tag = format!("{run}-r{round}");
        for step in 0..measured.phases.len() {
            let which = (round + step) % measured.phases.len();
            let before = Readings::take(args, postmaster, http).await?;
            let machine_before = usage::machine()?;
            let started = Instant::now();
            let latencies = if which < Noop::ALL.len() {
                let kind = Noop::ALL[which];
                let run = format!("{tag}-{which}");
                run_noops(temporal, args, per_round, &run, kind, &padding, &user_ids).await?
            } else if which < transfers_phase {
                let traced = pairs.traced.unwrap_or(pairs.plain);
                let tag = format!("{tag}t");
                let (_, to_posted) =
                    run_transfers(temporal, traced, per_round, args.concurrency, &tag).await?;
                wait_posted(pool, &tag, per_round).await?;
                to_posted
            } else {
                let (mutations, to_posted) =
                    run_transfers(temporal, pairs.plain, per_round, args.concurrency, &tag).await?;
                wait_posted(pool, &tag, per_round).await?;
                measured.mutation_latencies.extend(mutations);
                to_posted
            };
            let elapsed = started.elapsed();
            let machine_after = usage::machine()?;
            let phase = &mut measured.phases[which];
            phase.machine_busy_ticks += machine_after.0 - machine_before.0;
            phase.machine_ticks += machine_after.1 - machine_before.1;
            if args.temporal_pid.is_some() || args.temporal_metrics.is_some() {
                // The server finishes a workflow's last tasks (visibility, cleanup) just after
                // the client sees its result; let them land in the phase that caused them.
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            let after = Readings::take(args, postmaster, http).await?;
            let phase = &mut measured.phases[which];
            phase.add_readings(&before, &after);
            phase.record(elapsed, latencies);
        }
        report::print_round(round, &mut measured);
    }
    Ok(measured)
}
