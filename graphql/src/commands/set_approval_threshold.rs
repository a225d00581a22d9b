//! `setApprovalThreshold`: the amount, per currency, at or over which the user's transfers
//! wait for approval. One statement, no workflow: it moves no money, and only transfers
//! registered after it are measured against it.

use super::money_error;
use crate::schema::{SetApprovalThresholdInput, SetApprovalThresholdPayload, UserError, internal};
use crate::server::AppState;
use async_graphql::Result;
use djinn_domain::{AMOUNT_MAX_MINOR, Currency, RejectionCode, UserId};
use djinn_store::approvals;

pub async fn set_approval_threshold(
    app: &AppState,
    user: UserId,
    input: SetApprovalThresholdInput,
) -> Result<SetApprovalThresholdPayload> {
    let refused = |error: UserError| {
        Ok(SetApprovalThresholdPayload {
            user_errors: vec![error],
        })
    };
    match (&input.amount, &input.currency) {
        (Some(amount), _) => {
            let amount = match amount.positive() {
                Ok(amount) => amount,
                Err(error) => return refused(money_error(error, &["input", "amount"])),
            };
            if amount.amount_minor() > AMOUNT_MAX_MINOR {
                return refused(UserError::rejection(
                    &["input", "amount", "amount"],
                    RejectionCode::InvalidAmount,
                    "the threshold is larger than any transfer may carry",
                ));
            }
            approvals::set_threshold(&app.pool, user, amount)
                .await
                .map_err(internal)?;
        }
        (None, currency) => {
            let currency = match currency.as_deref().map(Currency::parse).transpose() {
                Ok(currency) => currency,
                Err(error) => {
                    return refused(UserError::new(
                        &["input", "currency"],
                        "INVALID_CURRENCY",
                        error.to_string(),
                    ));
                }
            };
            approvals::clear_threshold(&app.pool, user, currency)
                .await
                .map_err(internal)?;
        }
    }
    Ok(SetApprovalThresholdPayload {
        user_errors: vec![],
    })
}
