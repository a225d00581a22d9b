//! The Temporal activities over the ledger. Each is a thin adapter: call one idempotent store
//! function, then translate its error. A ledger rejection becomes a non-retryable application
//! failure whose type is the rejection code, which the workflow reads to void the transfer;
//! anything else is retryable, since a database hiccup is not an answer.

use crate::chaos;
use djinn_ledger::{self as ledger, Applied, NewAccount, StoreError};
use djinn_metrics::Metrics;
use djinn_temporal::trace_context;
use djinn_workflows::contracts::{
    OpenAccountInput, PostTransferInput, TransferInput, VoidTransferInput, markers,
};
use sqlx::PgPool;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use temporalio_sdk::ApplicationFailure;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tracing::Instrument;

/// Owns what the ledger activities need: the connection pool, and the process's metrics, which
/// time every step (`ledger_step_duration_seconds`) and count the transfers this process
/// settled (`transfers_total`): only a step that did its work now, never a replay of one.
#[derive(Debug, Clone)]
pub struct LedgerActivities {
    pool: PgPool,
    metrics: Metrics,
}

impl LedgerActivities {
    pub fn new(pool: PgPool, metrics: Metrics) -> Self {
        Self { pool, metrics }
    }

    /// Runs `step`, timing it under `name`.
    async fn timed<T>(&self, name: &str, step: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let done = step.await;
        self.metrics.ledger_step(name, started.elapsed());
        done
    }
}

#[temporalio_macros::activities]
impl LedgerActivities {
    #[activity(definition = markers::ReserveTransfer)]
    pub async fn reserve_transfer(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: TransferInput,
    ) -> Result<(), ActivityError> {
        let workflow_id = ctx.info().workflow_id.clone().unwrap_or_default();
        let step = ledger::reserve_transfer(
            &self.pool,
            input.transfer_id,
            input.user_id,
            input.idempotency_key.as_str(),
            &workflow_id,
            &input.request,
        );
        self.timed("reserve_transfer", step)
            .instrument(ledger_step_span(&ctx, &input))
            .await
            .map_err(to_activity_error)?;
        Ok(())
    }

    #[activity(definition = markers::ReserveAndPostTransfer)]
    pub async fn reserve_and_post_transfer(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: TransferInput,
    ) -> Result<(), ActivityError> {
        let workflow_id = ctx.info().workflow_id.clone().unwrap_or_default();
        let step = ledger::reserve_and_post_transfer(
            &self.pool,
            input.transfer_id,
            input.user_id,
            input.idempotency_key.as_str(),
            &workflow_id,
            &input.request,
        );
        let applied = self
            .timed("reserve_and_post_transfer", step)
            .instrument(ledger_step_span(&ctx, &input))
            .await
            .map_err(to_activity_error)?;
        if applied == Applied::Now {
            self.metrics.transfer_posted();
        }
        chaos::abort_after("reserve_and_post_transfer");
        Ok(())
    }

    #[activity(definition = markers::PostTransfer)]
    pub async fn post_transfer(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: PostTransferInput,
    ) -> Result<(), ActivityError> {
        let step = ledger::post_transfer(&self.pool, input.transfer_id, input.user_id);
        let applied = self
            .timed("post_transfer", step)
            .await
            .map_err(to_activity_error)?;
        if applied == Applied::Now {
            self.metrics.transfer_posted();
        }
        Ok(())
    }

    #[activity(definition = markers::VoidTransfer)]
    pub async fn void_transfer(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: VoidTransferInput,
    ) -> Result<(), ActivityError> {
        let step = ledger::void_transfer(
            &self.pool,
            input.transfer_id,
            input.user_id,
            input.idempotency_key.as_str(),
            input.code.as_str(),
            &input.message,
        );
        let applied = self
            .timed("void_transfer", step)
            .await
            .map_err(to_activity_error)?;
        if applied == Applied::Now {
            self.metrics.transfer_voided(input.code.as_str());
        }
        Ok(())
    }

    #[activity(definition = markers::OpenAccount)]
    pub async fn open_account(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: OpenAccountInput,
    ) -> Result<(), ActivityError> {
        let account = NewAccount {
            operation_id: input.operation_id,
            account_id: input.account_id,
            user: input.user_id,
            name: input.name,
            kind: input.kind,
            opening_balance: input.opening_balance,
            overdraft_limit: input.overdraft_limit,
        };
        self.timed("open_account", ledger::open_account(&self.pool, &account))
            .await
            .map_err(to_activity_error)?;
        Ok(())
    }
}

/// The ledger step's span, a child of its run's `workflow_task` span, in the trace of the
/// request that started the transfer (`djinn_temporal::trace_context`).
fn ledger_step_span(ctx: &ActivityContext, input: &TransferInput) -> tracing::Span {
    let span = tracing::info_span!(
        "ledger_step",
        transfer_id = %input.transfer_id,
        user_id = %input.user_id,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    let run_id = ctx.info().workflow_run_id.as_deref();
    let parent = trace_context::step_parent(run_id, input.trace.as_deref());
    trace_context::continue_trace(&span, parent.as_deref());
    trace_context::record_ids(&span);
    span
}

fn to_activity_error(error: StoreError) -> ActivityError {
    match error {
        StoreError::Rejected(rejection) => ActivityError::application(
            ApplicationFailure::builder(rejection.message)
                .type_name(rejection.code.as_str().to_owned())
                .non_retryable(true)
                .build(),
        ),
        // A broken invariant will not heal by retrying, but failing the workflow hides it from
        // nobody: staff see it in the Temporal UI and the ledger stays untouched.
        StoreError::Invariant(message) => {
            tracing::error!(%message, "ledger invariant broken");
            ActivityError::application(
                ApplicationFailure::builder(message)
                    .type_name("LEDGER_INVARIANT".to_owned())
                    .non_retryable(true)
                    .build(),
            )
        }
        StoreError::Database(error) => {
            tracing::warn!(%error, "ledger step failed; it will be retried");
            ActivityError::application(ApplicationFailure::builder(error.to_string()).build())
        }
    }
}
