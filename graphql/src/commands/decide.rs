//! `approveTransfer` and `cancelTransfer`: the owner's decision about a transfer awaiting
//! approval, sent to its workflow as an update (`djinn_temporal::decisions`). The projection
//! answers first what it can: another user's or an unknown transfer is not found, a decision
//! already in effect is answered with the transfer (idempotent: a repeated approval posts
//! nothing), and a transfer that awaits none is refused without asking Temporal. The run's
//! validator has the last word, since the projection may be a moment behind it.

use crate::schema::ids::{self, NodeType};
use crate::schema::{
    ApproveTransferInput, ApproveTransferPayload, CancelTransferInput, CancelTransferPayload,
    Transfer, UserError, internal,
};
use crate::server::AppState;
use async_graphql::{ID, Result};
use djinn_domain::{Description, OperationId, RejectionCode, TransferStatus, UserId};
use djinn_store::operations::{self, TransferView};
use djinn_temporal::decisions::{self, Answer, Decide};

pub async fn approve_transfer(
    app: &AppState,
    user: UserId,
    input: ApproveTransferInput,
) -> Result<ApproveTransferPayload> {
    let (transfer, user_errors) =
        decide(app, user, &input.transfer_id, Decide::Approve, None).await?;
    Ok(ApproveTransferPayload {
        transfer,
        user_errors,
    })
}

pub async fn cancel_transfer(
    app: &AppState,
    user: UserId,
    input: CancelTransferInput,
) -> Result<CancelTransferPayload> {
    let reason = match Description::parse(input.reason.as_deref().unwrap_or("")) {
        Ok(reason) => reason.map(|reason| reason.as_str().to_owned()),
        Err(error) => {
            return Ok(CancelTransferPayload {
                transfer: None,
                user_errors: vec![UserError::rejection(
                    &["input", "reason"],
                    RejectionCode::InvalidDescription,
                    error.to_string().replace("description", "reason"),
                )],
            });
        }
    };
    let (transfer, user_errors) =
        decide(app, user, &input.transfer_id, Decide::Cancel, reason).await?;
    Ok(CancelTransferPayload {
        transfer,
        user_errors,
    })
}

type Decided = (Option<Transfer>, Vec<UserError>);

fn refused(code: RejectionCode) -> Result<Decided> {
    Ok((
        None,
        vec![UserError::rejection(
            &["input", "transferId"],
            code,
            code.message(),
        )],
    ))
}

async fn decide(
    app: &AppState,
    user: UserId,
    id: &ID,
    decision: Decide,
    reason: Option<String>,
) -> Result<Decided> {
    let Some(id) = ids::decode_as(id, NodeType::Transfer).map(OperationId::from_uuid) else {
        return refused(RejectionCode::TransferNotFound);
    };
    let Some(view) = read(app, user, id).await? else {
        return refused(RejectionCode::TransferNotFound);
    };
    if in_effect(&view, decision) {
        return Ok((Some(Transfer(view)), vec![]));
    }
    let awaits = view.approval_deadline.is_some()
        && matches!(
            view.operation.status.transfer_status(),
            TransferStatus::Pending | TransferStatus::AwaitingApproval
        );
    if !awaits {
        return refused(RejectionCode::NotAwaitingApproval);
    }
    let answer = decisions::send(
        &app.temporal,
        &view.operation.workflow_id,
        decision,
        user,
        reason,
    )
    .await
    .map_err(internal)?;
    if let Answer::Refused(code) = answer {
        return refused(code);
    }
    let view = read(app, user, id)
        .await?
        .ok_or_else(|| internal("a decided transfer is missing"))?;
    match answer {
        Answer::RunEnded if !in_effect(&view, decision) => {
            refused(RejectionCode::NotAwaitingApproval)
        }
        _ => Ok((Some(Transfer(view)), vec![])),
    }
}

async fn read(app: &AppState, user: UserId, id: OperationId) -> Result<Option<TransferView>> {
    operations::get_transfer(&app.pool, user, id)
        .await
        .map_err(internal)
}

/// Whether the transfer already ended as `decision` makes it end.
fn in_effect(view: &TransferView, decision: Decide) -> bool {
    let status = view.operation.status.transfer_status();
    match decision {
        Decide::Approve => status == TransferStatus::Posted && view.approved_at.is_some(),
        Decide::Cancel => {
            status == TransferStatus::Voided
                && view.operation.failure_code.as_deref() == Some(RejectionCode::Cancelled.as_str())
        }
    }
}
