//! The two mutations that start workflows. Each parses its input into domain types (every
//! problem a `userError`), answers from the operation registry when the request was seen
//! before, and otherwise registers the operation and starts its workflow.
//!
//! Registering before starting is what makes a request idempotent across API replicas and
//! crashes: the row is claimed once per (user, key), and starting the workflow is itself
//! idempotent (its id derives from the key, and an existing run is reused), so a retry after a
//! crash between the two steps starts the workflow that the first attempt did not.

use crate::schema::ids::{self, NodeType};
use crate::schema::money::MoneyInputError;
use crate::schema::user_error::check;
use crate::schema::{
    Account, CreateTransferInput, CreateTransferPayload, OpenAccountInput, OpenAccountPayload,
    Transfer, UserError, internal,
};
use crate::server::AppState;
use async_graphql::Result;
use djinn_activities::store::accounts::{self, AccountView};
use djinn_activities::store::operations::{
    self, OpeningRequest, OperationStatus, Registration, TransferView,
};
use djinn_activities::store::session;
use djinn_domain::{
    AMOUNT_MAX_MINOR, AccountId, AccountName, Description, IdempotencyKey, Money, OperationId,
    RejectionCode, TransferError, TransferRequest, UserId, transfer_workflow_id,
};
use djinn_workflows::memo;
use djinn_workflows::search_attributes::{DJINN_OPERATION, DJINN_STATUS, DJINN_USER_ID};
use djinn_workflows::{
    OpenAccountInput as OpenAccountWorkflowInput, OpenAccountWorkflow, TransferInput,
    TransferWorkflow,
};
use sqlx::PgConnection;
use std::time::Duration;
use temporalio_client::errors::WorkflowStartError;
use temporalio_client::{
    WorkflowGetResultOptions, WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowStartOptions,
};
use temporalio_common::MemoValues;
use temporalio_common::search_attributes::SearchAttributes;

/// How long `openAccount` waits for its workflow before answering with an error; below the
/// default request timeout, so the client gets this answer rather than a bare 408.
const OPEN_ACCOUNT_WAIT: Duration = Duration::from_secs(8);

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
        Registration::Existing(view) => answer_existing(app, view, &request).await,
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
    let mut tx = session::begin_as(&app.pool, user).await.map_err(internal)?;
    let found = check_accounts(&mut tx, user, request).await?;
    tx.commit().await.map_err(internal)?;
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
        "INVALID_IDEMPOTENCY_KEY",
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
        "INVALID_DESCRIPTION",
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

fn account_id(id: &str, field: &str, errors: &mut Vec<UserError>) -> Option<AccountId> {
    let uuid = ids::decode_as(id, NodeType::Account);
    if uuid.is_none() {
        errors.push(UserError::rejection(
            &["input", field],
            RejectionCode::AccountNotFound,
            "no such account",
        ));
    }
    uuid.map(AccountId::from_uuid)
}

fn money_error(error: MoneyInputError, path: &[&str]) -> UserError {
    let field = |leaf: &'static str| -> Vec<&str> { path.iter().copied().chain([leaf]).collect() };
    match error {
        MoneyInputError::Currency(message) => {
            UserError::new(&field("currency"), "INVALID_CURRENCY", message)
        }
        MoneyInputError::Amount(error) => UserError::rejection(
            &field("amount"),
            RejectionCode::InvalidAmount,
            error.to_string(),
        ),
    }
}

/// The checks that need the ledger, as `register_transfer_for` makes them, with the details a
/// user needs (which account, what balance). The ledger step re-checks all of them atomically.
async fn check_accounts(
    tx: &mut PgConnection,
    user: UserId,
    request: &TransferRequest,
) -> Result<Option<UserError>> {
    let accounts = accounts::get_many(tx, user, &[request.from, request.to])
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
            "IDEMPOTENCY_KEY_REUSED",
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

/// Starts the transfer's workflow, or finds it started: the id derives from the key, a running
/// workflow is reused and a finished one is never started again.
async fn start_transfer(app: &AppState, view: &TransferView) -> Result<()> {
    let description = view
        .description
        .as_deref()
        .map(Description::parse)
        .transpose()
        .map_err(internal)?
        .flatten();
    let input = TransferInput {
        transfer_id: view.operation.id,
        user_id: view.operation.user_id,
        idempotency_key: view.operation.idempotency_key.clone(),
        request: TransferRequest {
            from: view.from,
            to: view.to,
            amount: view.amount,
            description,
        },
    };
    // A transfer run that ended, however it ended, is never replaced by a repeated request:
    // money may have moved, and only staff decide what happens next (reset in the Temporal UI).
    let options = start_options(
        app,
        &view.operation.workflow_id,
        view.operation.user_id,
        "transfer",
        WorkflowIdReusePolicy::RejectDuplicate,
        memo::transfer_summary(&input.request),
    );
    let temporal = app.temporal.clone();
    started_apart(async move {
        temporal
            .start_workflow(TransferWorkflow::run, input, options)
            .await
            .map(drop)
    })
    .await
}

/// Options that make starting a workflow idempotent: its id derives from the operation, a
/// running workflow is reused, and a finished one is never started again. Staff find it by
/// its search attributes and read its summary in the memo (see `djinn_workflows::memo`).
///
/// Eager Workflow Start: when this process runs a worker on the task queue with a free slot
/// (`djinn api` does, unless DJINN_API_RUNS_WORKFLOWS=false), the server answers the start with
/// the run's first workflow task, already started, and the SDK hands it to that worker. A
/// transfer ends within that task, so the server neither dispatches it through matching nor
/// writes its start separately. Without such a worker the SDK sends an ordinary start (and a
/// server that disallows eager starts declines the request): any worker takes the task. A
/// worker that dies holding an eager task loses it like any other, and the server gives it to
/// another worker when the task times out.
fn start_options(
    app: &AppState,
    workflow_id: &str,
    user: UserId,
    operation: &str,
    reuse: WorkflowIdReusePolicy,
    summary: String,
) -> WorkflowStartOptions {
    let mut memo = MemoValues::new();
    memo.insert(memo::SUMMARY, summary);
    WorkflowStartOptions::new(app.task_queue.clone(), workflow_id.to_owned())
        .id_reuse_policy(reuse)
        .id_conflict_policy(WorkflowIdConflictPolicy::UseExisting)
        .search_attributes(SearchAttributes::new([
            DJINN_USER_ID.value_set(user.to_string()),
            DJINN_OPERATION.value_set(operation.to_owned()),
            DJINN_STATUS.value_set("PENDING".to_owned()),
        ]))
        .memo(memo)
        .enable_eager_workflow_start(true)
        .build()
}

/// Runs `start` on a task of its own and waits for it. An eager start's answer carries the
/// run's first workflow task, which the SDK hands to the API's worker when the answer arrives:
/// were the start cancelled with its request (the client gone, the request timed out) after
/// the server answered, that task would wait for its timeout (10 s) before another worker got
/// it. A start that found its workflow already started (or finished) has done its job.
async fn started_apart(
    start: impl Future<Output = Result<(), WorkflowStartError>> + Send + 'static,
) -> Result<()> {
    match tokio::spawn(start).await.map_err(internal)? {
        Ok(()) | Err(WorkflowStartError::AlreadyStarted { .. }) => Ok(()),
        Err(error) => Err(internal(error)),
    }
}

pub async fn open_account(
    app: &AppState,
    user: UserId,
    input: OpenAccountInput,
) -> Result<OpenAccountPayload> {
    let mut errors = Vec::new();
    let key = check(
        input
            .idempotency_key
            .as_deref()
            .map(IdempotencyKey::parse)
            .transpose(),
        &mut errors,
        &["input", "idempotencyKey"],
        "INVALID_IDEMPOTENCY_KEY",
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
            account_amount(opening, currency, "openingBalance", "opening balance")
                .map_err(|e| errors.push(e))
                .ok()
        }
        (_, None) => None,
    };
    // No limit and a limit of zero are the same: the account never goes below zero.
    let overdraft_limit = match (&input.overdraft_limit, currency) {
        (None, _) => Some(None),
        (Some(limit), Some(currency)) => {
            account_amount(limit, currency, "overdraftLimit", "overdraft limit")
                .map(|limit| (limit.amount_minor() > 0).then_some(limit))
                .map_err(|e| errors.push(e))
                .ok()
        }
        (Some(_), None) => None,
    };
    let (Some(key), Some(name), Some(opening_balance), Some(overdraft_limit)) =
        (key, name, opening_balance, overdraft_limit)
    else {
        return Ok(OpenAccountPayload {
            account: None,
            user_errors: errors,
        });
    };

    // Without a key, every request opens a new account, keyed by its own id.
    let account_id = AccountId::generate();
    let key = key.map_or_else(|| account_id.to_string(), |key| key.as_str().to_owned());
    let workflow_id = format!("open-account:{user}:{key}");
    let kind = input.kind.into();
    let opening = OpeningRequest {
        name: name.as_str().to_owned(),
        kind,
        opening_balance,
        overdraft_limit,
    };
    let (operation, stored) = operations::register_open_account(
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
    let account_id = AccountId::from_uuid(operation.id.as_uuid());
    if let Some(existing) = accounts::get(&app.pool, user, account_id)
        .await
        .map_err(internal)?
    {
        return Ok(answer_opening(&opening, existing));
    }

    let summary = memo::opening_summary(&name, kind, opening_balance, overdraft_limit);
    let workflow_input = OpenAccountWorkflowInput {
        operation_id: operation.id,
        account_id,
        user_id: user,
        name,
        kind,
        opening_balance,
        overdraft_limit,
    };
    // Opening is idempotent per account id (the operation's id), so a run that failed or was
    // terminated before it opened the account is replaced by a new one when the client repeats
    // the request, as it is told to: the new run opens the account, or finds it opened.
    let options = start_options(
        app,
        &operation.workflow_id,
        user,
        "open_account",
        WorkflowIdReusePolicy::AllowDuplicateFailedOnly,
        summary,
    );
    let temporal = app.temporal.clone();
    started_apart(async move {
        temporal
            .start_workflow(OpenAccountWorkflow::run, workflow_input, options)
            .await
            .map(drop)
    })
    .await?;
    let handle = app
        .temporal
        .get_workflow_handle::<OpenAccountWorkflow>(operation.workflow_id.clone());
    match tokio::time::timeout(
        OPEN_ACCOUNT_WAIT,
        handle.get_result(WorkflowGetResultOptions::default()),
    )
    .await
    {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(internal(error)),
        Err(_) => {
            return Err(async_graphql::Error::new(
                "the account is still being opened; repeat the request with the same idempotencyKey",
            ));
        }
    }
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

fn key_reused() -> OpenAccountPayload {
    OpenAccountPayload {
        account: None,
        user_errors: vec![UserError::new(
            &["input", "idempotencyKey"],
            "IDEMPOTENCY_KEY_REUSED",
            "this idempotency key was used for a different account",
        )],
    }
}

/// The account a key opened, when it is the one `opening` asks for; otherwise the key was used
/// for another account.
fn answer_opening(opening: &OpeningRequest, account: AccountView) -> OpenAccountPayload {
    if account.name != opening.name
        || account.kind != opening.kind
        || account.currency != opening.opening_balance.currency()
        || account.overdraft_limit != opening.overdraft_limit
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
fn account_amount(
    input: &crate::schema::MoneyInput,
    currency: djinn_domain::Currency,
    field: &str,
    what: &str,
) -> Result<Money, UserError> {
    let given_currency = input
        .currency()
        .map_err(|e| money_error(e, &["input", field]))?;
    if given_currency != currency {
        return Err(UserError::rejection(
            &["input", field, "currency"],
            RejectionCode::CurrencyMismatch,
            format!("the {what} must be in the account's currency"),
        ));
    }
    let invalid = |message: String| {
        UserError::rejection(
            &["input", field, "amount"],
            RejectionCode::InvalidAmount,
            message,
        )
    };
    let money = Money::parse(&input.amount.0, currency).map_err(|e| invalid(e.to_string()))?;
    if money.amount_minor() < 0 {
        return Err(invalid(format!("the {what} must not be negative")));
    }
    if money.amount_minor() > AMOUNT_MAX_MINOR {
        return Err(invalid(format!("the {what} is too large")));
    }
    Ok(money)
}
