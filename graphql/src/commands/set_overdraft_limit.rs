//! `setOverdraftLimit`: changes how far below zero an account may go. It moves no money and
//! waits for nothing, so it is one statement rather than a workflow: the store's
//! `set_overdraft_limit` moves the limit and the ledger's floor together, under the same row
//! locks the ledger steps take, and refuses a limit the account already uses. Setting the limit
//! it has is answered like setting it (idempotent by nature).

use super::money_error;
use crate::schema::ids::{self, NodeType};
use crate::schema::{
    Account, SetOverdraftLimitInput, SetOverdraftLimitPayload, UserError, internal,
};
use crate::server::AppState;
use async_graphql::Result;
use djinn_domain::{AMOUNT_MAX_MINOR, AccountId, Money, RejectionCode, UserId};
use djinn_store::accounts::{self, LimitOutcome};

pub async fn set_overdraft_limit(
    app: &AppState,
    user: UserId,
    input: SetOverdraftLimitInput,
) -> Result<SetOverdraftLimitPayload> {
    let refused = |error: UserError| SetOverdraftLimitPayload {
        account: None,
        user_errors: vec![error],
    };
    let not_found = || {
        UserError::rejection(
            &["input", "accountId"],
            RejectionCode::AccountNotFound,
            "no such account",
        )
    };
    let Some(account_id) = ids::decode_as(&input.account_id, NodeType::Account) else {
        return Ok(refused(not_found()));
    };
    let account_id = AccountId::from_uuid(account_id);
    let Some(account) = accounts::get(&app.pool, user, account_id)
        .await
        .map_err(internal)?
    else {
        return Ok(refused(not_found()));
    };
    let limit = match input
        .limit
        .as_ref()
        .map(|limit| parse_limit(limit, account.currency))
    {
        None => None,
        Some(Ok(limit)) => Some(limit),
        Some(Err(error)) => return Ok(refused(error)),
    };
    let outcome = accounts::set_overdraft_limit(
        &app.pool,
        user,
        account_id,
        limit.map(|limit| limit.amount_minor()),
    )
    .await
    .map_err(internal)?;
    let error = match outcome {
        LimitOutcome::Set | LimitOutcome::Unchanged => None,
        LimitOutcome::NotFound => Some(not_found()),
        LimitOutcome::Closed => Some(UserError::rejection(
            &["input", "accountId"],
            RejectionCode::AccountClosed,
            "the account is closed",
        )),
        LimitOutcome::InUse => Some(UserError::new(
            &["input", "limit"],
            "OVERDRAFT_IN_USE",
            "the account already uses more of its overdraft than the new limit allows",
        )),
    };
    if let Some(error) = error {
        return Ok(refused(error));
    }
    let account = accounts::get(&app.pool, user, account_id)
        .await
        .map_err(internal)?;
    Ok(SetOverdraftLimitPayload {
        account: account.map(Account),
        user_errors: Vec::new(),
    })
}

/// A limit in the account's currency, zero or more and within any amount's range.
fn parse_limit(
    input: &crate::schema::MoneyInput,
    currency: djinn_domain::Currency,
) -> Result<Money, UserError> {
    let path = ["input", "limit"];
    let given = input.currency().map_err(|e| money_error(e, &path))?;
    if given != currency {
        return Err(UserError::rejection(
            &["input", "limit", "currency"],
            RejectionCode::CurrencyMismatch,
            "the limit must be in the account's currency",
        ));
    }
    let invalid = |message: &str| {
        UserError::rejection(
            &["input", "limit", "amount"],
            RejectionCode::InvalidAmount,
            message,
        )
    };
    let limit = Money::parse(&input.amount.0, currency).map_err(|e| invalid(&e.to_string()))?;
    if limit.amount_minor() < 0 {
        return Err(invalid("the limit must not be negative"));
    }
    if limit.amount_minor() > AMOUNT_MAX_MINOR {
        return Err(invalid("the limit is too large"));
    }
    Ok(limit)
}
