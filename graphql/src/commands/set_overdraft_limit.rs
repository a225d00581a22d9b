//! `setOverdraftLimit`: changes how far below zero an account may go. It moves no money and
//! waits for nothing, so it is one statement rather than a workflow: the store's
//! `set_overdraft_limit` moves the limit and the ledger's floor together, under the same row
//! locks the ledger steps take, and refuses a limit the account already uses. Setting the limit
//! it has is answered like setting it (idempotent by nature).

use super::account_amount;
use crate::schema::ids::{self, NodeType};
use crate::schema::{
    Account, SetOverdraftLimitInput, SetOverdraftLimitPayload, UserError, internal,
};
use crate::server::AppState;
use async_graphql::Result;
use djinn_domain::{AccountId, RejectionCode, UserId};
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
    let limit = input
        .limit
        .as_ref()
        .map(|limit| account_amount(limit, account.currency, "limit", "limit", false))
        .transpose();
    let limit = match limit {
        Ok(limit) => limit,
        Err(error) => return Ok(refused(error)),
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
