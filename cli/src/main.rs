//! `djinn`: one binary, several roles (api, worker, migrate, schema) and the operators'
//! commands (import, reconcile, schedules, ledger verify, backup).

use anyhow::Context;
use clap::{Parser, Subcommand};
use djinn::config::{
    ApiSettings, CodecSettings, DatabaseSettings, RuntimeSettings, SweeperConfig, TemporalSettings,
    WorkerSettings,
};
use djinn::validate::{self, Problems};
use djinn::{api, telemetry, worker};
use djinn_store::db;
use djinn_temporal as temporal;
use secrecy::ExposeSecret;

/// mimalloc rather than the system allocator. A profile of the API under `make bench` put a
/// large share of its CPU in glibc's malloc and free: every request allocates and frees many
/// small, short-lived buffers (GraphQL documents, protobuf and JSON payloads, SQL rows), the
/// pattern mimalloc's per-thread free lists serve best. Where the API shares cores with the
/// Temporal server, that CPU is taken from the server (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(name = "djinn", about = "Djinn personal-finance backend", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up: the size difference between roles costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Serve GraphQL over HTTP.
    Api {
        #[command(flatten)]
        runtime: RuntimeSettings,
        #[command(flatten)]
        codec: CodecSettings,
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        temporal: TemporalSettings,
        #[command(flatten)]
        api: ApiSettings,
    },
    /// Run workflows and activities.
    Worker {
        #[command(flatten)]
        runtime: RuntimeSettings,
        #[command(flatten)]
        codec: CodecSettings,
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        temporal: TemporalSettings,
        #[command(flatten)]
        worker: WorkerSettings,
        #[command(flatten)]
        sweeper: SweeperConfig,
    },
    /// Exit 0 when the api on this machine (or URL) answers its /healthz: the images'
    /// HEALTHCHECK, which have no shell and no curl.
    Healthcheck {
        /// Default: http://127.0.0.1:<port of DJINN_API_ADDR, else PORT, else 8080>/healthz.
        url: Option<String>,
    },
    /// Apply the embedded database migrations.
    Migrate {
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        migration: djinn::migrate::MigrationSettings,
    },
    /// Encrypted backups: create one, or restore one into an empty database.
    Backup {
        #[command(subcommand)]
        command: djinn::backup::BackupCommand,
    },
    /// Check the ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Import a statement file for an account's owner, with a progress bar.
    Import(djinn::import::ImportArgs),
    /// Reconcile an account's statements with its ledger (or every account's: --all).
    Reconcile(djinn::reconcile::ReconcileArgs),
    /// The Temporal Schedules: apply the nightly reconciliation's, or list them all.
    Schedules {
        #[command(subcommand)]
        command: djinn::reconcile::SchedulesCommand,
    },
    /// Print the GraphQL SDL.
    Schema,
}

#[derive(Subcommand, Debug)]
enum LedgerCommand {
    /// Check every ledger invariant over the whole database; exit 1 naming each violation.
    Verify {
        #[command(flatten)]
        database: DatabaseSettings,
    },
}

/// Error reports start before the runtime, so that every thread it makes reports to them.
fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The HTTP clients of the OTLP exporter and of Sentry take the process's rustls provider:
    // ring, as everywhere else in the binary (they fail to build without one).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _reports = djinn::error_reports::init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run_logged(cli))
}

async fn run_logged(cli: Cli) -> anyhow::Result<()> {
    telemetry::init();
    let ran = run(cli.command).await;
    // The spans still batched go out before the process ends (a shutdown, a refusal).
    tokio::task::spawn_blocking(djinn::tracing_export::flush)
        .await
        .ok();
    ran
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Api {
            runtime,
            codec,
            database,
            temporal,
            api,
        } => run_api(runtime, codec, database, temporal, api).await,
        Command::Worker {
            runtime,
            codec,
            database,
            temporal,
            worker,
            sweeper,
        } => run_worker(runtime, codec, database, temporal, worker, sweeper).await,
        Command::Healthcheck { url } => {
            let url = url.unwrap_or_else(djinn::probes::local_health_url);
            djinn::probes::healthcheck(&url).await
        }
        Command::Migrate {
            database,
            migration,
        } => djinn::migrate::run(database, migration).await,
        Command::Backup { command } => djinn::backup::run(command).await,
        Command::Ledger {
            command: LedgerCommand::Verify { database },
        } => {
            if !djinn::ledger::verify(database.database_url()?.expose_secret()).await? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Import(args) => djinn::import::run(args).await,
        Command::Reconcile(args) => djinn::reconcile::run(args).await,
        Command::Schedules { command } => djinn::reconcile::schedules(command).await,
        Command::Schema => {
            print!("{}", djinn_graphql::schema::sdl());
            Ok(())
        }
    }
}

/// `djinn api`: every setting checked first, each problem named, then served until a signal.
async fn run_api(
    runtime: RuntimeSettings,
    codec: CodecSettings,
    database: DatabaseSettings,
    temporal_settings: TemporalSettings,
    settings: ApiSettings,
) -> anyhow::Result<()> {
    let mut problems = Problems::default();
    let verifier = problems.check(api::verifier(&settings, &runtime));
    let codec = problems.check(codec.codec(&runtime));
    let config = codec
        .clone()
        .and_then(|codec| problems.check(settings.api_config(&runtime, codec)));
    let database_url = validate::database_url(&database, Some(&runtime), &mut problems);
    validate::temporal(&mut problems);
    problems.into_result("api")?;
    let (Some(verifier), Some(codec), Some(config), Some(database_url)) =
        (verifier, codec, config, database_url)
    else {
        anyhow::bail!("a checked setting is missing");
    };
    let wiring = api::Wiring {
        database_url: database_url.expose_secret(),
        listen_url: settings
            .database_listen_url
            .as_ref()
            .map(|url| url.expose_secret()),
        pool_size: database.pool_size,
        identity: "djinn-api",
        codec: codec.as_ref(),
        task_queue: temporal_settings.task_queue,
        verifier,
        runs_workflows: settings.runs_workflows,
        telemetry: djinn::metrics::Telemetry::start()?,
    };
    let api::Api { app, worker, .. } = api::build(&config, wiring).await?;
    let app = app.wrap(djinn::error_reports::around_requests);
    tracing::info!(addr = %app.local_addr()?, runs_workflows = settings.runs_workflows, "api listening");
    api::serve(app, worker, shutdown_signal()).await
}

/// `djinn worker`: every setting checked first, each problem named, then the worker and its
/// sweeper until a signal.
async fn run_worker(
    runtime: RuntimeSettings,
    codec: CodecSettings,
    database: DatabaseSettings,
    temporal_settings: TemporalSettings,
    worker_settings: WorkerSettings,
    sweeper: SweeperConfig,
) -> anyhow::Result<()> {
    let mut problems = Problems::default();
    let codec = problems.check(codec.codec(&runtime));
    let database_url = validate::database_url(&database, Some(&runtime), &mut problems);
    validate::temporal(&mut problems);
    problems.into_result("worker")?;
    let (Some(codec), Some(database_url)) = (codec, database_url) else {
        anyhow::bail!("a checked setting is missing");
    };
    let pool = db::connect(database_url.expose_secret(), database.pool_size)
        .await
        .context("connecting to PostgreSQL")?;
    let telemetry = djinn::metrics::Telemetry::start()?;
    telemetry.watch_pool("worker", &pool);
    if let Some(addr) = worker_settings.probe_addr {
        let bound =
            djinn::probes::serve_worker_probes(addr, pool.clone(), telemetry.metrics.clone())
                .await?;
        tracing::info!(addr = %bound, "worker probes and metrics listening");
    }
    let mut worker_settings = worker_settings;
    worker_settings.telemetry = Some(telemetry);
    let client = temporal::connect_from_env("djinn-worker", codec.as_ref()).await?;
    if let Err(error) = temporal::register_search_attributes(&client).await {
        tracing::warn!(%error, "search attributes could not be registered; add them with `temporal operator search-attribute create`");
    }
    worker::run_with_sweeper(
        pool,
        client,
        &temporal_settings.task_queue,
        &worker_settings,
        sweeper.settings(),
        shutdown_signal(),
    )
    .await
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
}
