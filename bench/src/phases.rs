#![allow(clippy::float_arithmetic)] // Rates and percentiles of a benchmark, never amounts of money.
//! The loads the benchmark measures: the no-op kinds, each adding one thing a transfer costs
//! Temporal, and the transfers themselves through the GraphQL API.

use crate::Args;
use crate::noop::{NoopInput, NoopWorkflow};
use anyhow::bail;
use djinn_client::Client;
use djinn_domain::{
    AccountId, Currency, IdempotencyKey, Money, OperationId, TransferRequest, TransferStatus,
    UserId,
};
use djinn_store::PgPool;
use djinn_workflows::memo;
use djinn_workflows::search_attributes::{DJINN_OPERATION, DJINN_STATUS, DJINN_USER_ID};
use futures::StreamExt;
use std::time::{Duration, Instant};
use temporalio_client::{
    WorkflowGetResultOptions, WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowStartOptions,
};
use temporalio_common::MemoValues;
use temporalio_common::search_attributes::SearchAttributes;

/// The no-op phases: the plain ceiling, the ceiling when started as the API starts workflows
/// (eagerly, to a worker in the starting process), then what a transfer adds on Temporal's
/// side, one thing at a time, so that the gap between the ceilings and the transfers can be
/// divided.
#[derive(Clone, Copy, Debug)]
pub enum Noop {
    /// Started and awaited by run id, nothing else, its task dispatched to a worker that polls
    /// as `djinn worker` does (the benchmark's own, since no production worker runs no-ops): the
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
    pub const ALL: [Noop; 4] = [
        Noop::Plain,
        Noop::Eager,
        Noop::AsTransfer,
        Noop::AsTransferWithSteps,
    ];

    /// The name of its phase.
    pub fn name(self) -> &'static str {
        match self {
            Noop::Plain => "no-op",
            Noop::Eager => "no-op, eager start",
            Noop::AsTransfer => "no-op as a transfer",
            Noop::AsTransferWithSteps => "no-op + a local step",
        }
    }

    /// The task queue of the benchmark's worker that runs this kind.
    pub fn task_queue(self, args: &Args) -> String {
        match self {
            Noop::Plain => plain_queue(args),
            Noop::Eager | Noop::AsTransfer | Noop::AsTransferWithSteps => eager_queue(args),
        }
    }
}

/// The queue of the worker that polls as `djinn worker` does: the server dispatches its tasks.
pub fn plain_queue(args: &Args) -> String {
    format!("{}-noop", args.task_queue)
}

/// The queue of the worker on the starting client: eager starts hand it their tasks.
pub fn eager_queue(args: &Args) -> String {
    format!("{}-eager", args.task_queue)
}

/// Starts `count` no-op workflows, `args.concurrency` at a time, each awaited to its end;
/// returns the latency of each.
pub async fn run_noops(
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

/// A transfer like the benchmark's (0.01 USD between two accounts, no description).
pub fn example_transfer() -> anyhow::Result<TransferRequest> {
    Ok(TransferRequest::new(
        AccountId::generate(),
        AccountId::generate(),
        Money::from_minor(1, Currency::parse("USD")?),
        None,
    )?)
}

/// The size of a transfer's workflow input as the API sends it (JSON, before the codec), with an
/// idempotency key like the benchmark's.
pub fn transfer_input_bytes(key: &str) -> anyhow::Result<usize> {
    let input = djinn_workflows::TransferInput {
        transfer_id: OperationId::generate(),
        user_id: UserId::generate(),
        idempotency_key: IdempotencyKey::parse(key)?,
        request: example_transfer()?,
        trace: None,
        approval_deadline_ms: None,
    };
    Ok(serde_json::to_vec(&input)?.len())
}

/// Sends `count` transfers spread over the users, `concurrency` at a time, each waiting for its
/// workflow to finish (the transfer POSTED) before the next one starts: the same closed loop as
/// the no-op phase, so both put the same kind of load on the server. Returns the latency of each
/// mutation and of each transfer from request to POSTED. Keys are "<run>-<i>".
pub async fn run_transfers(
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
                if outcome.status != TransferStatus::Posted {
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

pub async fn wait_posted(pool: &PgPool, run: &str, count: usize) -> anyhow::Result<()> {
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
