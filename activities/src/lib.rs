//! The Temporal activities over the ledger: thin adapters that call one idempotent step of
//! `djinn-ledger` and translate its error for the workflow; and the sweeper, which settles the
//! operations their workflows left pending. This is the only crate (besides the tests) that may
//! depend on the ledger's write steps.

pub mod activities;
pub mod chaos;
pub mod reconciliation;
pub mod recurring;
pub mod statements;
pub mod sweeper;

pub use activities::LedgerActivities;
pub use reconciliation::ReconciliationActivities;
pub use recurring::RecurringActivities;
pub use statements::StatementActivities;

/// An activity's application failure with `message`, retried unless `permanent`.
pub(crate) fn failure(message: &str, permanent: bool) -> temporalio_sdk::activities::ActivityError {
    temporalio_sdk::activities::ActivityError::application(
        temporalio_sdk::ApplicationFailure::builder(message.to_owned())
            .non_retryable(permanent)
            .build(),
    )
}
