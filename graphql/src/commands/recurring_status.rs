//! `pauseRecurringTransfer`, `resumeRecurringTransfer`, `deleteRecurringTransfer`: the rule's
//! status changes first (a run checks it when it registers its day, so from then on no run
//! pays), then its Temporal Schedule is paused, resumed or deleted. Each is idempotent.

use crate::schema::ids::{self, NodeType};
use crate::schema::{RecurringTransfer, RecurringTransferPayload, UserError, internal};
use crate::server::AppState;
use async_graphql::{ID, Result};
use djinn_domain::{RecurringTransferId, UserId};
use djinn_store::recurring::{self, StatusChange};
use djinn_temporal::schedules;

pub async fn change_recurring_status(
    app: &AppState,
    user: UserId,
    id: &ID,
    change: StatusChange,
) -> Result<RecurringTransferPayload> {
    let not_found = || {
        Ok(RecurringTransferPayload {
            recurring_transfer: None,
            user_errors: vec![UserError::new(
                &["input", "id"],
                "RECURRING_TRANSFER_NOT_FOUND",
                "no such recurring transfer",
            )],
        })
    };
    let Some(uuid) = ids::decode_as(id, NodeType::RecurringTransfer) else {
        return not_found();
    };
    let rule = RecurringTransferId::from_uuid(uuid);
    let Some((stored, runs)) = recurring::change_status(&app.pool, user, rule, change)
        .await
        .map_err(internal)?
    else {
        return not_found();
    };
    let applied = match change {
        StatusChange::Pause => schedules::pause(&app.temporal, rule).await,
        StatusChange::Resume => schedules::resume(&app.temporal, rule).await,
        StatusChange::Delete => schedules::delete(&app.temporal, rule).await,
    };
    applied.map_err(internal)?;
    Ok(RecurringTransferPayload {
        recurring_transfer: Some(RecurringTransfer(stored, runs)),
        user_errors: vec![],
    })
}
