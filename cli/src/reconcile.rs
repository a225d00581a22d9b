//! `djinn reconcile --account ID | --all`: reconciliation runs started and waited for, one
//! line of findings each; and `djinn schedules apply | list`, the nightly reconciliation's
//! Temporal Schedule (`djinn_temporal::nightly`).

use crate::config::{CodecSettings, DatabaseSettings, RuntimeSettings, TemporalSettings};
use anyhow::{Context, bail};
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use djinn_domain::{AccountId, ReconciliationRunId, UserId};
use djinn_store::reconciliation::{self, Run};
use djinn_store::{PgPool, db, imports};
use djinn_temporal::nightly::{self, NightlyTime};
use djinn_workflows::ReconcileInput;
use secrecy::ExposeSecret;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct ReconcileArgs {
    /// The account (its uuid) to reconcile.
    #[arg(long, conflicts_with = "all", required_unless_present = "all")]
    pub account: Option<uuid::Uuid>,
    /// Every account with statements.
    #[arg(long)]
    pub all: bool,
    /// The period's first day; default: the first day the account's statements cover.
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// The period's last day; default: the last day the account's statements cover.
    #[arg(long)]
    pub to: Option<NaiveDate>,
    #[command(flatten)]
    pub runtime: RuntimeSettings,
    #[command(flatten)]
    pub codec: CodecSettings,
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub temporal: TemporalSettings,
}

/// Reconciles the account (or all of them), waiting for each run; an error when one failed.
pub async fn run(args: ReconcileArgs) -> anyhow::Result<()> {
    let pool = db::connect(args.database.database_url()?.expose_secret(), 2)
        .await
        .context("connecting to PostgreSQL")?;
    let covered = reconciliation::accounts_with_statements(&pool).await?;
    let mut targets = Vec::new();
    if let Some(account) = args.account {
        let account = AccountId::from_uuid(account);
        let owner = imports::account_owner(&pool, account)
            .await?
            .context("no such account")?;
        let days = covered.iter().find(|(id, ..)| *id == account);
        let from = args
            .from
            .or(days.map(|d| d.2))
            .context("give --from: the account has no statements")?;
        let to = args
            .to
            .or(days.map(|d| d.3))
            .context("give --to: the account has no statements")?;
        targets.push((account, owner, from, to));
    } else {
        for (account, owner, first, last) in covered {
            targets.push((
                account,
                owner,
                args.from.unwrap_or(first),
                args.to.unwrap_or(last),
            ));
        }
    }
    let codec = args.codec.codec(&args.runtime)?;
    let client = djinn_temporal::connect_from_env("djinn-reconcile", codec.as_ref()).await?;
    let mut failed = 0;
    for (account, owner, from, to) in targets {
        let run = reconciliation::register(&pool, owner, account, from, to, None)
            .await?
            .context("no such account")?;
        let input = ReconcileInput {
            run_id: ReconciliationRunId::from_uuid(run.id),
            user_id: owner,
        };
        djinn_temporal::starts::start_reconciliation(&client, &args.temporal.task_queue, input)
            .await?;
        let ended = wait(&pool, owner, input.run_id).await?;
        println!("{}", findings(&ended));
        failed += usize::from(ended.status == "failed");
    }
    if failed > 0 {
        bail!("{failed} reconciliation runs failed");
    }
    Ok(())
}

async fn wait(pool: &PgPool, owner: UserId, run: ReconciliationRunId) -> anyhow::Result<Run> {
    loop {
        let found = reconciliation::get(pool, owner, run)
            .await?
            .context("the run vanished")?;
        if found.status != "running" {
            return Ok(found);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn findings(run: &Run) -> String {
    let difference = match (run.statement_closing_minor, run.ledger_closing_minor) {
        (Some(statement), Some(ledger)) => format!(
            "{} minor units ({} on {})",
            statement.saturating_sub(ledger),
            run.currency,
            run.closing_on
                .map(|day| day.to_string())
                .unwrap_or_default()
        ),
        _ => "none stated".to_owned(),
    };
    format!(
        "account {} {}..{}: {}; matched {}, missing from ledger {}, unexpected in ledger {}, \
         closing difference {}{}",
        run.account_id,
        run.period_from,
        run.period_to,
        run.status,
        run.matched_count,
        run.missing_count,
        run.unexpected_count,
        difference,
        run.failure_message
            .as_deref()
            .map(|message| format!(": {message}"))
            .unwrap_or_default()
    )
}

#[derive(Subcommand, Debug)]
pub enum SchedulesCommand {
    /// Create or update the nightly reconciliation's schedule (idempotent).
    Apply(ApplyArgs),
    /// Show every schedule: id, workflow, paused, next run.
    List {
        #[command(flatten)]
        runtime: RuntimeSettings,
        #[command(flatten)]
        codec: CodecSettings,
    },
}

#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// When the nightly reconciliation runs, HH:MM in its time zone.
    #[arg(long, env = "DJINN_RECONCILIATION_AT", default_value = "02:30")]
    pub at: String,
    /// The time zone of `--at`, an IANA name.
    #[arg(long, env = "DJINN_RECONCILIATION_TIME_ZONE", default_value = "UTC")]
    pub time_zone: String,
    /// How many accounts the nightly run reconciles at once.
    #[arg(long, env = "DJINN_RECONCILIATION_CONCURRENCY", default_value_t = djinn_workflows::NIGHTLY_CONCURRENCY)]
    pub concurrency: u32,
    #[command(flatten)]
    pub runtime: RuntimeSettings,
    #[command(flatten)]
    pub codec: CodecSettings,
    #[command(flatten)]
    pub temporal: TemporalSettings,
}

pub async fn schedules(command: SchedulesCommand) -> anyhow::Result<()> {
    match command {
        SchedulesCommand::Apply(args) => {
            let at = nightly_time(&args.at, &args.time_zone)?;
            let codec = args.codec.codec(&args.runtime)?;
            let client =
                djinn_temporal::connect_from_env("djinn-schedules", codec.as_ref()).await?;
            let applied = nightly::apply(&client, &args.temporal.task_queue, &at, args.concurrency)
                .await
                .context("applying the nightly schedule")?;
            println!(
                "{} {:?}: every day at {:02}:{:02} {}",
                nightly::NIGHTLY_SCHEDULE_ID,
                applied,
                at.hour,
                at.minute,
                at.time_zone
            );
            Ok(())
        }
        SchedulesCommand::List { runtime, codec } => {
            let codec = codec.codec(&runtime)?;
            let client =
                djinn_temporal::connect_from_env("djinn-schedules", codec.as_ref()).await?;
            for schedule in nightly::list(&client).await? {
                let next = schedule.next.map_or_else(
                    || "-".to_owned(),
                    |at| chrono::DateTime::<chrono::Utc>::from(at).to_rfc3339(),
                );
                println!(
                    "{}\t{}\t{}\tnext {next}",
                    schedule.id,
                    schedule.workflow_type.as_deref().unwrap_or("-"),
                    if schedule.paused { "paused" } else { "active" },
                );
            }
            Ok(())
        }
    }
}

/// `HH:MM` in a time zone (checked by the server when the schedule is applied).
fn nightly_time(at: &str, time_zone: &str) -> anyhow::Result<NightlyTime> {
    let time = chrono::NaiveTime::parse_from_str(at, "%H:%M")
        .with_context(|| format!("--at {at:?} is not HH:MM"))?;
    use chrono::Timelike;
    Ok(NightlyTime {
        hour: u8::try_from(time.hour()).unwrap_or(0),
        minute: u8::try_from(time.minute()).unwrap_or(0),
        time_zone: time_zone.to_owned(),
    })
}
