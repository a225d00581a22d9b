//! The benchmark's own workers, which run the no-op workflows and nothing else: one on the
//! plain no-op's queue, polling as `djinn worker` polls (its tasks are dispatched by the
//! server), and one on the client that starts the eager no-ops, polling as the api's worker
//! polls (their first task comes back with the start). Both poll through `djinn::worker`.

use crate::noop::{NoopActivities, NoopWorkflow};
use djinn::config::WorkerSettings;
use std::future::Future;
use temporalio_client::Client;
use temporalio_sdk::WorkerOptions;

/// Runs a no-op worker on `task_queue` with the polls of `settings` until `shutdown` resolves.
/// Not Send (the SDK's worker is not): await it from `main`.
pub async fn run(
    client: Client,
    task_queue: &str,
    settings: &WorkerSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let options = WorkerOptions::new(task_queue)
        .register_workflow::<NoopWorkflow>()?
        .register_activities(NoopActivities)
        .build();
    djinn::worker::run_with(client, options, settings, shutdown).await
}
