//! `openAccount`: parse, register the opening under the user's key with its request, start
//! the opening's workflow and wait (briefly) for the account it opens.

use super::account_amount;
use crate::schema::user_error::check;
use crate::schema::{Account, OpenAccountInput, OpenAccountPayload, UserError, internal};
use crate::server::AppState;
use async_graphql::Result;
use djinn_domain::{
    AccountId, AccountName, IdempotencyKey, Money, OperationId, RejectionCode, UserId,
};
use djinn_store::accounts::{self, AccountView};
use djinn_store::openings::{self, OpeningRequest};
use djinn_store::operations::OperationStatus;
use djinn_workflows::{OpenAccountInput as OpenAccountWorkflowInput, OpenAccountWorkflow};
use std::time::Duration;
use temporalio_client::WorkflowGetResultOptions;

/// How long `openAccount` waits for its workflow before answering with an error; below the
/// default request timeout, so the client gets this answer rather than a bare 408.
const OPEN_ACCOUNT_WAIT: Duration = Duration::from_secs(8);

pub async fn open_account(
    app: &AppState,
    user: UserId,
    input: OpenAccountInput,
) -> Result<OpenAccountPayload> {
    let (key, name, opening) = match parse_opening(&input) {
        Ok(parsed) => parsed,
        Err(user_errors) => {
            return Ok(OpenAccountPayload {
                account: None,
                user_errors,
            });
        }
    };
    // Without a key (an empty account), every request opens a new account, keyed by its own id.
    let keyed = key.is_some();
    let account_id = AccountId::generate();
    let key = key.map_or_else(|| account_id.to_string(), |key| key.as_str().to_owned());
    let workflow_id = format!("open-account:{user}:{key}");
    let (operation, stored) = openings::register_open_account(
        &app.pool,
        OperationId::from_uuid(account_id.as_uuid()),
        user,
        &key,
        &workflow_id,
        &opening,
    )
    .await
    .map_err(internal)?;
    // Another body under a key that is taken: refused whatever became of the first request
    // (still being opened, opened, or its run failed).
    if stored.as_ref().is_some_and(|stored| *stored != opening) {
        return Ok(key_reused());
    }
    if stored.is_some() {
        app.metrics.idempotent_replay("openAccount");
    }
    let account_id = AccountId::from_uuid(operation.id.as_uuid());
    if let Some(existing) = accounts::get(&app.pool, user, account_id)
        .await
        .map_err(internal)?
    {
        return Ok(answer_opening(&opening, existing));
    }
    // The run of a first request ended without opening the account, and the sweeper ended the
    // opening (failed): this repeat revives it, and its run opens the account.
    if operation.status == OperationStatus::Failed {
        openings::revive_opening(&app.pool, user, operation.id)
            .await
            .map_err(internal)?;
    }
    let workflow_input = OpenAccountWorkflowInput {
        operation_id: operation.id,
        account_id,
        user_id: user,
        name,
        kind: opening.kind,
        opening_balance: opening.opening_balance,
        overdraft_limit: opening.overdraft_limit,
    };
    start_and_wait(app, &operation.workflow_id, workflow_input, keyed).await?;
    // Checked again: a concurrent request with the same key but another body may have started
    // the run this one waited for.
    match accounts::get(&app.pool, user, account_id)
        .await
        .map_err(internal)?
    {
        Some(opened) => Ok(answer_opening(&opening, opened)),
        None => Err(internal("the opening run ended without an account")),
    }
}

/// The key, the name and the request of an `openAccount` input, or every problem with it.
fn parse_opening(
    input: &OpenAccountInput,
) -> Result<(Option<IdempotencyKey>, AccountName, OpeningRequest), Vec<UserError>> {
    let mut errors = Vec::new();
    let key = check(
        input
            .idempotency_key
            .as_deref()
            .map(IdempotencyKey::parse)
            .transpose(),
        &mut errors,
        &["input", "idempotencyKey"],
        RejectionCode::InvalidIdempotencyKey.as_str(),
    );
    let name = check(
        AccountName::parse(&input.name),
        &mut errors,
        &["input", "name"],
        "INVALID_NAME",
    );
    let currency = check(
        djinn_domain::Currency::parse(&input.currency),
        &mut errors,
        &["input", "currency"],
        "INVALID_CURRENCY",
    );
    let opening_balance = match (&input.opening_balance, currency) {
        (None, Some(currency)) => Some(Money::zero(currency)),
        (Some(opening), Some(currency)) => {
            account_amount(opening, currency, "openingBalance", "opening balance", true)
                .map_err(|e| errors.push(e))
                .ok()
        }
        (_, None) => None,
    };
    // No limit and a limit of zero are the same: the account never goes below zero.
    let overdraft_limit = match (&input.overdraft_limit, currency) {
        (None, _) => Some(None),
        (Some(limit), Some(currency)) => {
            account_amount(limit, currency, "overdraftLimit", "overdraft limit", false)
                .map(|limit| (limit.amount_minor() > 0).then_some(limit))
                .map_err(|e| errors.push(e))
                .ok()
        }
        (Some(_), None) => None,
    };
    let (Some(key), Some(name), Some(opening_balance), Some(overdraft_limit)) =
        (key, name, opening_balance, overdraft_limit)
    else {
        return Err(errors);
    };
    if let Some(owing) = owing_error(input.kind.into(), opening_balance, overdraft_limit) {
        return Err(vec![owing]);
    }
    // Money moves in with an opening balance: a retry without a key would open a second
    // account with a second balance.
    if key.is_none() && opening_balance.amount_minor() != 0 {
        return Err(vec![UserError::rejection(
            &["input", "idempotencyKey"],
            RejectionCode::IdempotencyKeyRequired,
            "an account opened with a balance needs an idempotencyKey, so that a retry opens it once",
        )]);
    }
    let opening = OpeningRequest {
        name: name.as_str().to_owned(),
        kind: input.kind.into(),
        opening_balance,
        overdraft_limit,
    };
    Ok((key, name, opening))
}

/// Starts the opening's workflow (or finds it started) and waits up to [`OPEN_ACCOUNT_WAIT`]
/// for it; past that a client that sent a key is told to repeat the request with it, and one
/// that did not is told the account will appear (a repeat would open a second one).
async fn start_and_wait(
    app: &AppState,
    workflow_id: &str,
    input: OpenAccountWorkflowInput,
    keyed: bool,
) -> Result<()> {
    // A run that failed or was terminated before it opened the account is replaced by a new
    // one when the client repeats the request, as it is told to.
    djinn_temporal::starts::start_opening(&app.temporal, &app.task_queue, workflow_id, input)
        .await
        .map_err(internal)?;
    let handle = app
        .temporal
        .get_workflow_handle::<OpenAccountWorkflow>(workflow_id.to_owned());
    match tokio::time::timeout(
        OPEN_ACCOUNT_WAIT,
        handle.get_result(WorkflowGetResultOptions::default()),
    )
    .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(internal(error)),
        Err(_) if keyed => Err(async_graphql::Error::new(
            "the account is still being opened; repeat the request with the same idempotencyKey",
        )),
        Err(_) => Err(async_graphql::Error::new(
            "the account is still being opened and will appear among your accounts",
        )),
    }
}

fn key_reused() -> OpenAccountPayload {
    OpenAccountPayload {
        account: None,
        user_errors: vec![UserError::new(
            &["input", "idempotencyKey"],
            RejectionCode::IdempotencyKeyReused.as_str(),
            "this idempotency key was used for a different account",
        )],
    }
}

/// The account a key opened, when it is the one `opening` asks for; otherwise the key was used
/// for another account. Its limit is not compared: it may have changed since it opened
/// (`setOverdraftLimit`), and the registration already proved the two requests the same.
fn answer_opening(opening: &OpeningRequest, account: AccountView) -> OpenAccountPayload {
    if account.name != opening.name
        || account.kind != opening.kind
        || account.currency != opening.opening_balance.currency()
    {
        return key_reused();
    }
    OpenAccountPayload {
        account: Some(Account(account)),
        user_errors: vec![],
    }
}

/// An amount of an account's own (the opening balance, the overdraft limit): in the account's
/// currency, exact, zero or more, and within the range any amount may take.
/// Why an opening balance below zero is refused, if it is: only a credit card or a loan opens
/// owing money, and at most its credit line (its overdraft limit).
fn owing_error(
    kind: djinn_domain::AccountKind,
    opening: Money,
    limit: Option<Money>,
) -> Option<UserError> {
    let owed = opening.amount_minor().checked_neg()?;
    if owed <= 0 {
        return None;
    }
    let field = &["input", "openingBalance", "amount"];
    if !kind.may_open_owing() {
        return Some(UserError::rejection(
            field,
            RejectionCode::InvalidAmount,
            "the opening balance must not be negative: only a credit card or a loan opens owing money",
        ));
    }
    let line = limit.map_or(0, |limit| limit.amount_minor());
    (owed > line).then(|| {
        UserError::new(
            field,
            "OPENING_EXCEEDS_CREDIT_LINE",
            "an account opens owing at most its overdraftLimit (its credit line)",
        )
    })
}
