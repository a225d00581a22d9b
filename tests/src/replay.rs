//! Replaying a finished run's history against today's workflow code.

use crate::test_codec;
use anyhow::Context;
use std::time::Duration;

/// Replays a finished transfer's history from the server against today's workflow code: a
/// change that breaks determinism fails here rather than in production.
pub async fn replay_transfer(
    temporal: &temporalio_client::Client,
    workflow_id: &str,
) -> anyhow::Result<()> {
    use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};
    let handle = temporal.get_workflow_handle::<djinn_workflows::TransferWorkflow>(workflow_id);
    // The ledger says a transfer settled as soon as its last step commits, a moment before the
    // workflow task that ran it completes: the whole history is there once the run has ended.
    tokio::time::timeout(
        Duration::from_secs(30),
        handle.get_result(temporalio_client::WorkflowGetResultOptions::default()),
    )
    .await
    .context("the transfer's run ends")??;
    let history = handle.fetch_history(temporalio_client::WorkflowFetchHistoryOptions::default());
    let replayer = WorkflowReplayer::new(
        WorkflowReplayerOptions::new()
            .data_converter(djinn_temporal::data_converter(&test_codec()))
            .register_workflow::<djinn_workflows::TransferWorkflow>()?
            .build(),
    )?;
    replayer.replay_workflow(history).await?;
    Ok(())
}
