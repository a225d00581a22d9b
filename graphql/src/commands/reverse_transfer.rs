//! `reverseTransfer`: parse, register the reversal (or find the one registered under the key)
//! in one round trip, start its workflow, answer with it PENDING. The reversal is a transfer
//! the other way, run by the transfer workflow under its own id (`reversal:<user>:<original>`),
//! so it takes the same ledger step, funds check and recovery as any transfer.

use crate::schema::ids::{self, NodeType};
use crate::schema::user_error::check;
use crate::schema::{ReverseTransferInput, ReverseTransferPayload, Transfer, UserError, internal};
use crate::server::AppState;
use async_graphql::Result;
use djinn_domain::{Description, IdempotencyKey, OperationId, RejectionCode, UserId};
use djinn_store::operations::{OperationStatus, Registration};
use djinn_store::reversals;

pub async fn reverse_transfer(
    app: &AppState,
    user: UserId,
    input: ReverseTransferInput,
) -> Result<ReverseTransferPayload> {
    let refused = |user_errors| {
        Ok(ReverseTransferPayload {
            transfer: None,
            user_errors,
        })
    };
    let (key, original, reason) = match parse(&input) {
        Ok(parsed) => parsed,
        Err(errors) => return refused(errors),
    };
    let registration = reversals::register_reversal(
        &app.pool,
        OperationId::generate(),
        user,
        &key,
        original,
        reason.as_ref(),
    )
    .await
    .map_err(internal)?;
    let view = match registration {
        Registration::Created(view) => view,
        Registration::Existing(view) => {
            app.metrics.idempotent_replay("reverseTransfer");
            let same = view.reverses == Some(original)
                && view.description.as_deref() == reason.as_ref().map(Description::as_str);
            if !same {
                return refused(vec![UserError::new(
                    &["input", "idempotencyKey"],
                    RejectionCode::IdempotencyKeyReused.as_str(),
                    "this idempotency key was used for another request",
                )]);
            }
            // Still pending: the first request may have died before it started the workflow.
            if view.operation.status != OperationStatus::Pending {
                return Ok(ReverseTransferPayload {
                    transfer: Some(Transfer(view)),
                    user_errors: vec![],
                });
            }
            view
        }
        Registration::Refused(code) => {
            return refused(vec![UserError::rejection(
                &["input", "transferId"],
                code,
                refusal_message(code),
            )]);
        }
    };
    djinn_temporal::starts::start_transfer(&app.temporal, &app.task_queue, &view)
        .await
        .map_err(internal)?;
    Ok(ReverseTransferPayload {
        transfer: Some(Transfer(view)),
        user_errors: vec![],
    })
}

fn parse(
    input: &ReverseTransferInput,
) -> Result<(IdempotencyKey, OperationId, Option<Description>), Vec<UserError>> {
    let mut errors = Vec::new();
    let key = check(
        IdempotencyKey::parse(&input.idempotency_key),
        &mut errors,
        &["input", "idempotencyKey"],
        RejectionCode::InvalidIdempotencyKey.as_str(),
    );
    let original =
        ids::decode_as(&input.transfer_id, NodeType::Transfer).map(OperationId::from_uuid);
    if original.is_none() {
        errors.push(UserError::rejection(
            &["input", "transferId"],
            RejectionCode::TransferNotFound,
            RejectionCode::TransferNotFound.message(),
        ));
    }
    let reason = check(
        Description::parse(input.reason.as_deref().unwrap_or("")),
        &mut errors,
        &["input", "reason"],
        RejectionCode::InvalidDescription.as_str(),
    );
    match (key, original, reason) {
        (Some(key), Some(original), Some(reason)) => Ok((key, original, reason)),
        _ => Err(errors),
    }
}

/// What a refusal tells the user about the transfer they asked to reverse.
fn refusal_message(code: RejectionCode) -> &'static str {
    match code {
        RejectionCode::InsufficientFunds => {
            "the account the money returns from cannot pay it back now"
        }
        RejectionCode::NotPosted => {
            "only a posted transfer that is not itself a reversal can be reversed"
        }
        other => other.message(),
    }
}
