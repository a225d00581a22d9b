#![allow(clippy::float_arithmetic)] // Rates and percentiles of a benchmark, never amounts of money.
//! What each phase cost and how fast it ran: the readings taken around each share of a phase,
//! their sums over the rounds, and the figures printed at the end.

use crate::Args;
use crate::server_metrics::ServerCounters;
use crate::usage::{self, TICKS_PER_SECOND};
use std::time::Duration;

/// The processes whose CPU each phase accounts for, in the order they are printed.
pub const PROCESSES: [&str; 6] = ["server", "worker", "api", "api traced", "postgres", "bench"];
/// The worker's and the apis' places in `PROCESSES`.
pub const WORKER: usize = 1;
pub const API: usize = 2;
pub const API_TRACED: usize = 3;

/// What the processes under test have done so far, read before and after each phase.
pub struct Readings {
    /// CPU seconds of each of `PROCESSES`, when its pid is known.
    cpu_seconds: [Option<f64>; PROCESSES.len()],
    counters: Option<ServerCounters>,
}

impl Readings {
    pub async fn take(
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
                cpu_seconds(args.traced_api_pid)?,
                postmaster.map(usage::process_tree).transpose()?,
                cpu_seconds(Some(std::process::id()))?,
            ],
            counters,
        })
    }
}

/// One kind of load, measured over all rounds: its rate is its count over its own time.
pub struct Phase {
    pub name: &'static str,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
    pub last_rate: f64,
    /// CPU seconds each of `PROCESSES` spent on this phase.
    pub cpu_seconds: [f64; PROCESSES.len()],
    pub machine_busy_ticks: f64,
    pub machine_ticks: f64,
    pub server: ServerCounters,
}

impl Phase {
    pub fn new(name: &'static str) -> Self {
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

    pub fn record(&mut self, elapsed: Duration, latencies: Vec<Duration>) {
        self.last_rate = latencies.len() as f64 / elapsed.as_secs_f64();
        self.elapsed += elapsed;
        self.latencies.extend(latencies);
    }

    pub fn add_readings(&mut self, before: &Readings, after: &Readings) {
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

    pub fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// One line: this phase's CPU per workflow in each process, and in the whole machine while
    /// the load ran.
    pub fn print_cpu_per_workflow(&self) {
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
    pub fn machine_ms_per_workflow(&self) -> f64 {
        let count = self.latencies.len().max(1) as f64;
        self.machine_busy_ticks * 1000.0 / TICKS_PER_SECOND / count
    }

    pub fn machine_busy_percent(&self) -> f64 {
        100.0 * self.machine_busy_ticks / self.machine_ticks.max(1.0)
    }
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

pub fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub fn print_percentiles(label: &str, latencies: &mut [Duration]) {
    latencies.sort();
    let [p50, p95, p99] = [50.0, 95.0, 99.0].map(|p| millis(percentile(latencies, p)));
    println!("  {label:<27} p50 {p50}  p95 {p95}  p99 {p99}");
}

/// One line per round: each phase's rate in it; and the round's ratios, kept for the summary.
pub fn print_round(round: usize, measured: &mut crate::Rounds) {
    let phases = &measured.phases;
    println!(
        "  round {}: {}",
        round + 1,
        phases
            .iter()
            .map(|phase| format!("{} {:.1}/s", phase.name, phase.last_rate))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let transfers_rate = phases[phases.len() - 1].last_rate;
    measured
        .ratios
        .push(100.0 * transfers_rate / phases[0].last_rate);
    measured
        .eager_ratios
        .push(100.0 * transfers_rate / phases[1].last_rate);
    if let Some(traced) = traced_phase(phases) {
        measured
            .traced_ratios
            .push(100.0 * traced.last_rate / transfers_rate);
    }
}

/// The traced transfers' phase, when the run has one (just before the transfers').
fn traced_phase(phases: &[Phase]) -> Option<&Phase> {
    phases
        .len()
        .checked_sub(2)
        .map(|at| &phases[at])
        .filter(|phase| phase.name == "transfers traced")
}

/// What tracing every request costs: the traced transfers' rate and the api's CPU per transfer
/// against the untraced ones', and how many spans reached the receiver.
fn print_tracing_cost(measured: &crate::Rounds) {
    let phases = &measured.phases;
    let Some(traced) = traced_phase(phases) else {
        return;
    };
    let plain = &phases[phases.len() - 1];
    let api_ms = |phase: &Phase, process: usize| {
        phase.cpu_seconds[process] * 1000.0 / phase.latencies.len().max(1) as f64
    };
    println!(
        "  transfers, every span exported {:5.1} transfers/s ({:.1} % of untraced: target >= 95 %; median of rounds {:.1} %; {} spans received)",
        traced.rate(),
        100.0 * traced.rate() / plain.rate(),
        median(&measured.traced_ratios),
        measured.spans_exported
    );
    println!(
        "  api CPU per transfer        {:8.2} ms traced, {:.2} ms untraced",
        api_ms(traced, API_TRACED),
        api_ms(plain, API)
    );
}

/// The whole report: rates and ratios, CPU by process, the server's work, latencies, memory.
pub fn print(
    args: &Args,
    mut measured: crate::Rounds,
    mut ledger_to_posted: Vec<Duration>,
) -> anyhow::Result<()> {
    println!();
    println!(
        "Djinn benchmark: {} transfers, {} in flight, {} users, {} rounds",
        measured.count,
        args.concurrency,
        args.users,
        measured.ratios.len()
    );
    print_rates(&measured);
    print_tracing_cost(&measured);
    print_costs(args, &measured.phases);
    let transfers_phase = measured.phases.len() - 1;
    for phase in &mut measured.phases[..transfers_phase] {
        print_percentiles(phase.name, &mut phase.latencies);
    }
    print_percentiles("createTransfer latency", &mut measured.mutation_latencies);
    let transfers = &mut measured.phases[transfers_phase];
    print_percentiles("time to POSTED (client)", &mut transfers.latencies);
    print_percentiles("time to POSTED (ledger)", &mut ledger_to_posted);
    print_processes(args, transfers, measured.count)
}

/// The rate of each phase, and the transfers' ratios to the two ceilings: overall, in each
/// round, and by the machine's CPU per workflow.
fn print_rates(measured: &crate::Rounds) {
    let phases = &measured.phases;
    let transfers = &phases[phases.len() - 1];
    let (noop_rate, eager_rate, transfer_rate) =
        (phases[0].rate(), phases[1].rate(), transfers.rate());
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
        transfers.elapsed.as_secs_f64()
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
        ("ratio in each round", &measured.ratios),
        ("eager ratio in each round", &measured.eager_ratios),
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
    let transfer_cpu = transfers.machine_ms_per_workflow().max(f64::MIN_POSITIVE);
    for (label, ceiling) in [
        ("ratio of machine CPU", 0),
        ("eager ratio of machine CPU", 1),
    ] {
        println!(
            "  {label:<27} {:8.1} %  (CPU per {} / CPU per transfer, machine {:.0} % and {:.0} % busy)",
            100.0 * phases[ceiling].machine_ms_per_workflow() / transfer_cpu,
            phases[ceiling].name,
            phases[ceiling].machine_busy_percent(),
            transfers.machine_busy_percent()
        );
    }
}

/// Each phase's CPU per workflow by process, and the server's work per workflow.
fn print_costs(args: &Args, phases: &[Phase]) {
    println!("  CPU ms per workflow, by process (the machine's figure covers the load only):");
    for phase in phases {
        phase.print_cpu_per_workflow();
    }
    if args.temporal_metrics.is_some() {
        for phase in phases {
            phase
                .server
                .print_per_workflow(phase.name, phase.latencies.len());
        }
    }
}

/// The api's and the worker's CPU per 1,000 transfers and their peak memory. The API runs the
/// transfers it starts (eager starts), so a transfer's workflow and ledger step cost the api
/// process; `djinn worker` runs only what is not started eagerly.
fn print_processes(args: &Args, transfers: &Phase, count: usize) -> anyhow::Result<()> {
    let per_thousand = |process: usize| transfers.cpu_seconds[process] * 1000.0 / count as f64;
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
