//! `reconcileAccount`: register a run of the account over the period and start its workflow;
//! the run answers RUNNING and reads COMPLETED (or FAILED) once the workflow ended.

use super::account_id;
use crate::schema::{
    ReconcileAccountInput, ReconcileAccountPayload, ReconciliationRun, UserError, internal,
};
use crate::server::AppState;
use async_graphql::Result;
use djinn_domain::{ReconciliationRunId, RejectionCode, UserId};
use djinn_store::reconciliation;
use djinn_workflows::ReconcileInput;

/// The longest period one run compares, in days.
pub const PERIOD_DAYS_MAX: i64 = 3_660;

pub async fn reconcile_account(
    app: &AppState,
    user: UserId,
    input: ReconcileAccountInput,
) -> Result<ReconcileAccountPayload> {
    let refused = |user_errors| {
        Ok(ReconcileAccountPayload {
            reconciliation_run: None,
            user_errors,
        })
    };
    let mut errors = Vec::new();
    let account = account_id(&input.account_id, "accountId", &mut errors);
    let days = (input.to.0 - input.from.0).num_days();
    if !(0..=PERIOD_DAYS_MAX).contains(&days) {
        errors.push(UserError::new(
            &["input", "to"],
            "INVALID_PERIOD",
            format!("the period must end on or after its start, within {PERIOD_DAYS_MAX} days"),
        ));
    }
    let Some(account) = account.filter(|_| errors.is_empty()) else {
        return refused(errors);
    };
    let Some(run) =
        reconciliation::register(&app.pool, user, account, input.from.0, input.to.0, None)
            .await
            .map_err(internal)?
    else {
        return refused(vec![UserError::rejection(
            &["input", "accountId"],
            RejectionCode::AccountNotFound,
            "no such account",
        )]);
    };
    let start = ReconcileInput {
        run_id: ReconciliationRunId::from_uuid(run.id),
        user_id: user,
    };
    djinn_temporal::starts::start_reconciliation(&app.temporal, &app.task_queue, start)
        .await
        .map_err(internal)?;
    Ok(ReconcileAccountPayload {
        reconciliation_run: Some(ReconciliationRun(run)),
        user_errors: vec![],
    })
}
