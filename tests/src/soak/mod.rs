//! The fault soak (`make soak`, and a short one in `make test`): concurrent clients make
//! operations against a real `djinn api` and `djinn worker` while faults strike at random
//! moments: SIGKILL of the api or the worker (restarted), a restart of the Temporal dev server
//! (same database file) and of PostgreSQL (an immediate stop: crash recovery). At the end no
//! transfer is left pending, the ledger verifies, money is conserved and nothing was posted
//! twice; the report gives the counts and how long each fault took to recover from.

mod checks;
mod clients;
mod processes;
mod stack;

pub use checks::Settled;
pub use clients::Tally;

use crate::Client;
use clients::Dice;
use processes::Processes;
use stack::{Postgres, Temporal};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How big a soak is.
#[derive(Clone, Copy, Debug)]
pub struct SoakConfig {
    pub operations: usize,
    pub clients: usize,
    /// SIGKILLs of the api or the worker; Temporal and PostgreSQL restart once each besides.
    pub kills: usize,
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    KillApi,
    KillWorker,
    RestartTemporal,
    RestartPostgres,
}

/// What a soak did and found.
#[derive(Debug)]
pub struct Report {
    pub operations: usize,
    pub repeats: usize,
    pub answers: Vec<(String, usize)>,
    /// Each fault and how long until a canary transfer posted again.
    pub recoveries: Vec<(String, Duration)>,
    pub settled: Settled,
}

pub async fn run(config: SoakConfig) -> anyhow::Result<Report> {
    let postgres = Postgres::start("djinn")?;
    let mut temporal = Temporal::start().await?;
    let database_url = postgres.url("djinn");
    let mut processes = Processes::start(&database_url, &temporal.address()).await?;
    let address = processes.address.clone();
    let http = reqwest::Client::new();
    let canary = Client::new(&address, "soak-canary", http.clone());
    let canary_accounts = canary.checking_and_savings("1000000.00").await?;

    let tally = Arc::new(Tally::default());
    let mut clients = Vec::new();
    for index in 0..config.clients {
        let client = Client::new(&address, &format!("soak-{index}"), http.clone());
        let accounts = (
            client
                .open_account("Checking", "USD", Some("5000.00"))
                .await?,
            client
                .open_account("Savings", "USD", Some("5000.00"))
                .await?,
        );
        client.set_approval_threshold(Some("50.00"), "USD").await?;
        let tally = tally.clone();
        let seed = config.seed.wrapping_mul(31).wrapping_add(index as u64 + 1);
        clients.push(tokio::spawn(async move {
            clients::operate(client, accounts, seed, config.operations, &tally).await
        }));
    }

    // The faults strike while the operations run, spread over them: the k-th of F once
    // k/(F+1) of the operations have begun, a little later or sooner at random.
    let mut faults = schedule(config);
    let total = faults.len();
    let mut recoveries = Vec::new();
    let mut dice = Dice::new(config.seed ^ 0x5eed);
    while let Some(fault) = faults.pop() {
        let struck_so_far = total - faults.len();
        let jitter = dice.roll(config.operations as u64 / (2 * total as u64 + 2) + 1) as usize;
        let due = (config.operations * struck_so_far / (total + 1)).saturating_sub(jitter);
        while tally.begun.load(Ordering::Relaxed) < due {
            processes.keep_running().await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let struck = Instant::now();
        match fault {
            Fault::KillApi => processes.kill_api().await?,
            Fault::KillWorker => processes.kill_worker().await?,
            Fault::RestartTemporal => temporal.restart().await?,
            Fault::RestartPostgres => postgres.restart()?,
        }
        canary_posts(&canary, &canary_accounts, recoveries.len(), &mut processes).await?;
        recoveries.push((format!("{fault:?}"), struck.elapsed()));
    }
    while !clients.iter().all(tokio::task::JoinHandle::is_finished) {
        processes.keep_running().await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for client in clients {
        client.await??;
    }
    let settled = checks::settled(&database_url).await?;
    processes.stop().await;
    let answers = tally.answers.lock().expect("not poisoned").clone();
    Ok(Report {
        operations: tally
            .begun
            .load(std::sync::atomic::Ordering::Relaxed)
            .min(config.operations),
        repeats: tally.repeats.load(Ordering::Relaxed),
        answers: answers.into_iter().collect(),
        recoveries,
        settled,
    })
}

/// The faults, in the order they strike: the kills, alternating at random between the api and
/// the worker, with one restart of Temporal and one of PostgreSQL among them.
fn schedule(config: SoakConfig) -> Vec<Fault> {
    let mut dice = Dice::new(config.seed);
    let mut faults: Vec<Fault> = (0..config.kills)
        .map(|_| {
            if dice.roll(2) == 0 {
                Fault::KillApi
            } else {
                Fault::KillWorker
            }
        })
        .collect();
    for restart in [Fault::RestartTemporal, Fault::RestartPostgres] {
        let at = dice.roll(faults.len() as u64 + 1) as usize;
        faults.insert(at, restart);
    }
    faults
}

/// A transfer of the canary's, made and settled POSTED: the stack has recovered.
async fn canary_posts(
    canary: &Client,
    (from, to): &(String, String),
    n: usize,
    processes: &mut Processes,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let key = format!("canary-{n}");
    loop {
        processes.keep_running().await?;
        if let Ok(created) = canary.create_transfer(&key, from, to, "0.01", "USD").await
            && let Some(id) = created["transfer"]["id"].as_str()
            && canary
                .transfer(id)
                .await
                .is_ok_and(|t| t["status"] == "POSTED")
        {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(180),
            "the stack did not recover within 180 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "operations: {} ({} requests repeated for want of an answer)",
            self.operations, self.repeats
        )?;
        for (answer, count) in &self.answers {
            writeln!(f, "  {answer}: {count}")?;
        }
        writeln!(f, "transfers at the end: {}", self.settled)?;
        for (fault, took) in &self.recoveries {
            writeln!(f, "  {fault}: recovered in {:.1} s", took.as_secs_f64())?;
        }
        Ok(())
    }
}
