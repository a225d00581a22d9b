//! `createTransfer`: parse, register (or find the transfer registered under the key) in one
//! round trip, start the transfer's workflow, answer with the transfer PENDING.

use super::{account_id, money_error};
use crate::schema::user_error::check;
use crate::schema::{CreateTransferInput, CreateTransferPayload, Transfer, UserError, internal};
use crate::server::AppState;
use async_graphql::Result;
use djinn_domain::{
    Description, IdempotencyKey, OperationId, RejectionCode, TransferError, TransferRequest,
    UserId, transfer_workflow_id,
};
use djinn_store::accounts;
use djinn_store::operations::{self, OperationStatus, Registration, TransferView};

pub async fn create_transfer(
    app: &AppState,
    user: UserId,
    input: CreateTransferInput,
) -> Result<CreateTransferPayload> {
    let request = match parse_transfer(&input) {
        Ok(parsed) => parsed,
        Err(user_errors) => {
            return Ok(CreateTransferPayload {
                transfer: None,
                user_errors,
            });
        }
    };
    let (key, request) = request;

    // One round trip answers a known key with its transfer (a retry of a request that already
    // moved money gets that transfer back, not a complaint about the funds it moved), and
    // otherwise checks the accounts and registers the request.
    let workflow_id = transfer_workflow_id(user, &key);
    let registration = operations::register_transfer(
        &app.pool,
        OperationId::generate(),
        user,
        &key,
        &workflow_id,
        &request,
        app.approval_timeout,
    )
    .await
    .map_err(internal)?;
    match registration {
        Registration::Created(view) => {
            start_transfer(app, &view).await?;
            Ok(CreateTransferPayload {
                transfer: Some(Transfer(view)),
                user_errors: vec![],
            })
        }
        // Registered before, or by a concurrent request with the same key that won the race.
        Registration::Existing(view) => {
            app.metrics.idempotent_replay("createTransfer");
            answer_existing(app, view, &request).await
        }
        Registration::Refused(code) => Ok(CreateTransferPayload {
            transfer: None,
            user_errors: vec![refusal(app, user, &request, code).await?],
        }),
    }
}

/// What the registration's checks refused, told in full: the accounts are read again to say
/// which account and what balance. Nothing was written, so only a refused request pays for it.
async fn refusal(
    app: &AppState,
    user: UserId,
    request: &TransferRequest,
    code: RejectionCode,
) -> Result<UserError> {
    let found = check_accounts(app, user, request).await?;
    // The accounts changed between the two reads (a transfer settled in between): the refusal
    // stands, said without the details.
    Ok(found.unwrap_or_else(|| {
        UserError::rejection(
            &["input"],
            code,
            "the accounts changed while this transfer was checked; it was refused",
        )
    }))
}

fn parse_transfer(
    input: &CreateTransferInput,
) -> Result<(IdempotencyKey, TransferRequest), Vec<UserError>> {
    let mut errors = Vec::new();
    let key = check(
        IdempotencyKey::parse(&input.idempotency_key),
        &mut errors,
        &["input", "idempotencyKey"],
        RejectionCode::InvalidIdempotencyKey.as_str(),
    );
    let from = account_id(&input.from_account_id, "fromAccountId", &mut errors);
    let to = account_id(&input.to_account_id, "toAccountId", &mut errors);
    let amount = input
        .amount
        .positive()
        .map_err(|e| errors.push(money_error(e, &["input", "amount"])))
        .ok();
    let description = check(
        Description::parse(input.description.as_deref().unwrap_or("")),
        &mut errors,
        &["input", "description"],
        RejectionCode::InvalidDescription.as_str(),
    );
    let (Some(key), Some(from), Some(to), Some(amount), Some(description)) =
        (key, from, to, amount, description)
    else {
        return Err(errors);
    };
    match TransferRequest::new(from, to, amount, description) {
        Ok(request) => Ok((key, request)),
        Err(error @ TransferError::SameAccount) => Err(vec![UserError::rejection(
            &["input", "toAccountId"],
            RejectionCode::SameAccount,
            error.to_string(),
        )]),
        Err(error) => Err(vec![UserError::rejection(
            &["input", "amount", "amount"],
            RejectionCode::InvalidAmount,
            error.to_string(),
        )]),
    }
}

/// The checks that need the ledger, as `register_transfer_for` makes them, with the details a
/// user needs (which account, what balance). The ledger step re-checks all of them atomically.
async fn check_accounts(
    app: &AppState,
    user: UserId,
    request: &TransferRequest,
) -> Result<Option<UserError>> {
    let accounts = accounts::get_many(&app.pool, user, &[request.from, request.to])
        .await
        .map_err(internal)?;
    let mut found = Vec::with_capacity(2);
    for (id, field) in [(request.from, "fromAccountId"), (request.to, "toAccountId")] {
        match accounts.iter().find(|account| account.id == id) {
            Some(account) => found.push(account),
            None => {
                return Ok(Some(UserError::rejection(
                    &["input", field],
                    RejectionCode::AccountNotFound,
                    "no such account",
                )));
            }
        }
    }
    let currency = request.amount.currency();
    if let Some(account) = found.iter().find(|account| account.currency != currency) {
        let message = format!(
            "the account holds {}, the amount is in {currency}",
            account.currency
        );
        return Ok(Some(UserError::rejection(
            &["input", "amount", "currency"],
            RejectionCode::CurrencyMismatch,
            message,
        )));
    }
    if found.iter().any(|account| !account.is_open) {
        return Ok(Some(UserError::rejection(
            &["input"],
            RejectionCode::AccountClosed,
            "the account is closed",
        )));
    }
    if found[0].spendable_minor() < i128::from(request.amount.amount_minor()) {
        let message = match found[0].overdraft_limit {
            Some(limit) => format!(
                "the available balance is {} with an overdraft limit of {}",
                found[0].available_balance.to_decimal_string(),
                limit.to_decimal_string()
            ),
            None => format!(
                "the available balance is {}",
                found[0].available_balance.to_decimal_string()
            ),
        };
        return Ok(Some(UserError::rejection(
            &["input", "amount", "amount"],
            RejectionCode::InsufficientFunds,
            message,
        )));
    }
    Ok(None)
}

async fn answer_existing(
    app: &AppState,
    existing: TransferView,
    request: &TransferRequest,
) -> Result<CreateTransferPayload> {
    if !existing.matches(request) {
        let error = UserError::new(
            &["input", "idempotencyKey"],
            RejectionCode::IdempotencyKeyReused.as_str(),
            "this idempotency key was used for a different transfer",
        );
        return Ok(CreateTransferPayload {
            transfer: None,
            user_errors: vec![error],
        });
    }
    // A transfer still in flight may be one whose first request crashed between registering and
    // starting: start it (a no-op when running). A settled one is never started again, even
    // after Temporal forgot its run.
    if matches!(
        existing.operation.status,
        OperationStatus::Pending | OperationStatus::AwaitingApproval
    ) {
        start_transfer(app, &existing).await?;
    }
    Ok(CreateTransferPayload {
        transfer: Some(Transfer(existing)),
        user_errors: vec![],
    })
}

/// Starts the transfer's workflow, or finds it started (`djinn_temporal::starts`).
async fn start_transfer(app: &AppState, view: &TransferView) -> Result<()> {
    djinn_temporal::starts::start_transfer(&app.temporal, &app.task_queue, view)
        .await
        .map_err(internal)
}
