//! The sweeper's part for the long runs: statement imports and reconciliation runs, which are
//! registered RUNNING before their workflow starts, as operations are registered pending. The
//! same two things can leave one RUNNING for ever, and the sweeper answers them the same way:
//! - no workflow (the api died between registering and starting, and the client never
//!   repeated the request): it starts it, as the api would have; a nightly run is left to the
//!   nightly workflow, which starts its runs a bounded number at a time;
//! - still running: it leaves it (an import moves on with every batch, so it is quiet only
//!   while it waits for a worker);
//! - ended without finishing it (staff terminated it, it timed out): the import or run ends
//!   FAILED with RUN_ENDED, which its status and `failureMessage` show. An import keeps the
//!   batches it wrote; the same file imported again writes only the lines still missing.

use super::{Action, SweepError, Swept, describe, ended};
use djinn_domain::RejectionCode;
use djinn_store::sweeping::{self, LongRunKind, OverdueRun};
use djinn_store::{PgPool, imports, reconciliation};
use djinn_temporal::starts;
use djinn_workflows::contracts::{ImportInput, ReconcileInput};
use djinn_workflows::reconciliation_workflow_id;
use std::time::Duration;
use temporalio_client::Client;

/// Looks once at the long runs untouched for `quiet_for` and starts or ends each.
pub(super) async fn sweep(
    pool: &PgPool,
    client: &Client,
    task_queue: &str,
    quiet_for: Duration,
    swept: &mut Swept,
) -> Result<(), SweepError> {
    let mut after: Option<OverdueRun> = None;
    for _ in 0..super::SWEEP_PAGES_MAX {
        let page =
            sweeping::long_runs_overdue(pool, quiet_for, after.as_ref(), super::SWEEP_BATCH_MAX)
                .await?;
        for run in &page {
            match sweep_one(pool, client, task_queue, run).await {
                Ok(action) => swept.add(action),
                Err(error) => tracing::warn!(%error, kind = ?run.kind, "cannot sweep a long run"),
            }
        }
        match page.last() {
            Some(last) if page.len() as i64 == super::SWEEP_BATCH_MAX => after = Some(last.clone()),
            _ => break,
        }
    }
    Ok(())
}

async fn sweep_one(
    pool: &PgPool,
    client: &Client,
    task_queue: &str,
    run: &OverdueRun,
) -> Result<Action, SweepError> {
    let user_id = run.user_id;
    let Some(status) = describe(client, &workflow_id(run)).await? else {
        match &run.kind {
            LongRunKind::Import {
                import,
                workflow_id,
            } => {
                let input = ImportInput {
                    import_id: *import,
                    user_id,
                };
                starts::start_import(client, task_queue, workflow_id, input).await?;
            }
            LongRunKind::Reconciliation { nightly: true, .. } => return Ok(Action::Left),
            LongRunKind::Reconciliation { run: run_id, .. } => {
                let input = ReconcileInput {
                    run_id: *run_id,
                    user_id,
                };
                starts::start_reconciliation(client, task_queue, input).await?;
            }
        }
        tracing::info!(kind = ?run.kind, "started a long run nobody started");
        return Ok(Action::Started);
    };
    if !ended(status) {
        return Ok(Action::Left);
    }
    end(
        pool,
        run,
        &format!("its run ended {status:?} without finishing it"),
    )
    .await?;
    Ok(Action::Settled)
}

/// The workflow's id of a long run: the import's own, or the one a run's id makes.
fn workflow_id(run: &OverdueRun) -> String {
    match &run.kind {
        LongRunKind::Import { workflow_id, .. } => workflow_id.clone(),
        LongRunKind::Reconciliation { run: run_id, .. } => {
            reconciliation_workflow_id(&ReconcileInput {
                run_id: *run_id,
                user_id: run.user_id,
            })
        }
    }
}

/// Ends a long run its workflow left RUNNING: FAILED, with RUN_ENDED.
async fn end(pool: &PgPool, run: &OverdueRun, why: &str) -> Result<(), SweepError> {
    match &run.kind {
        LongRunKind::Import { import, .. } => {
            let code = RejectionCode::RunEnded.as_str();
            imports::finish(pool, run.user_id, *import, Some((code, why))).await?;
        }
        LongRunKind::Reconciliation { run: id, .. } => {
            reconciliation::fail(pool, run.user_id, *id, why).await?;
        }
    }
    tracing::info!(kind = ?run.kind, why, "ended a long run its workflow left running");
    Ok(())
}
