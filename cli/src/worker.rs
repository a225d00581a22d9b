//! The worker role: runs the workflows and the ledger activities of one task queue. `djinn
//! worker` runs whatever reaches it; the api runs the same worker for the workflows it starts
//! (see `crate::api`).
//!
//! Workflows and activities are registered on the same worker because the ledger steps are
//! local activities, which run on the worker that runs the workflow.

use crate::config::WorkerSettings;
use djinn_activities::sweeper::SweeperSettings;
use djinn_activities::{
    LedgerActivities, ReconciliationActivities, RecurringActivities, StatementActivities,
};
use djinn_store::PgPool;
use djinn_workflows::{
    ImportStatementWorkflow, NightlyReconciliationWorkflow, OpenAccountWorkflow,
    ReconciliationWorkflow, RecurringTransferWorkflow, TransferWorkflow,
};
use std::future::Future;
use std::time::Duration;
use temporalio_client::Client;
use temporalio_sdk::runtime::PollerBehavior;
use temporalio_sdk::{Runtime, Worker, WorkerOptions};

/// How long in-flight activities get to finish after shutdown starts.
const GRACEFUL_SHUTDOWN: Duration = Duration::from_secs(10);

/// `djinn worker`: the worker and, beside it, the sweeper that settles the operations their
/// workflows left pending (`djinn_activities::sweeper`), both until `shutdown` resolves.
pub async fn run_with_sweeper(
    pool: PgPool,
    client: Client,
    task_queue: &str,
    settings: &WorkerSettings,
    sweeper: SweeperSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let sweeping = djinn_activities::sweeper::run(
        pool.clone(),
        client.clone(),
        task_queue.to_owned(),
        sweeper,
        until_stopped(stopped.clone()),
    );
    let working = run(pool, client, task_queue, settings, until_stopped(stopped));
    let (worked, ()) = tokio::join!(working, sweeping);
    worked
}

/// Runs the worker until `shutdown` resolves, then lets in-flight tasks finish. The returned
/// future is not Send (the SDK's worker is not): await it from `main` or a dedicated thread.
pub async fn run(
    pool: PgPool,
    client: Client,
    task_queue: &str,
    settings: &WorkerSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    djinn_workflows::observe::install(djinn_temporal::trace_context::observe_run);
    let options = WorkerOptions::new(task_queue)
        .register_workflow::<TransferWorkflow>()?
        .register_workflow::<OpenAccountWorkflow>()?
        .register_workflow::<RecurringTransferWorkflow>()?
        .register_workflow::<ImportStatementWorkflow>()?
        .register_workflow::<ReconciliationWorkflow>()?
        .register_workflow::<NightlyReconciliationWorkflow>()?
        .register_activities(LedgerActivities::new(pool.clone(), metrics_of(settings)))
        .register_activities(RecurringActivities::new(pool.clone()))
        .register_activities(StatementActivities::new(pool.clone()))
        .register_activities(ReconciliationActivities::new(pool))
        .build();
    run_with(client, options, settings, shutdown).await
}

/// The metrics the worker's activities count into: the process's, or their own when the
/// settings carry none (the tests' and the benchmark's workers).
fn metrics_of(settings: &WorkerSettings) -> djinn_metrics::Metrics {
    settings
        .telemetry
        .as_ref()
        .map_or_else(crate::metrics::for_this_build, |t| t.metrics.clone())
}

/// Runs a worker with the registrations of `options`, polling and naming itself as `settings`
/// say, until `shutdown` resolves. The benchmark runs its no-op workers through here too, so
/// they poll exactly as Djinn's do.
pub async fn run_with(
    client: Client,
    mut options: WorkerOptions,
    settings: &WorkerSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let meter = settings
        .telemetry
        .as_ref()
        .and_then(|t| t.sdk_meter.clone());
    let runtime = Runtime::from_current_tokio(crate::metrics::runtime_options(meter)?)?;
    options.client_identity_override = settings.identity.clone();
    options.graceful_shutdown_period = Some(GRACEFUL_SHUTDOWN);
    options.workflow_task_poller_behavior = Some(PollerBehavior::SimpleMaximum(
        settings.workflow_task_pollers,
    ));
    options.nonsticky_to_sticky_poll_ratio = settings.nonsticky_poll_ratio;
    options.activity_task_poller_behavior = Some(PollerBehavior::SimpleMaximum(
        settings.activity_task_pollers,
    ));
    let task_queue = options.task_queue.clone();
    let mut worker = Worker::new(&runtime, client, options)?;
    let stop = worker.shutdown_handle();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("worker shutting down");
        stop();
    });
    tracing::info!(task_queue, "worker started");
    worker.run().await?;
    Ok(())
}
