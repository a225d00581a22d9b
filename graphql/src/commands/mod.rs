//! The mutations, one module each. `setOverdraftLimit` and `setApprovalThreshold` change terms
//! in one statement; `decide` sends an owner's decision to a running transfer; the others
//! (`reverseTransfer` among them) start workflows, over the start logic they share. Each
//! parses its input into domain types (every problem a `userError`), answers from the
//! operation registry when the request was seen before, and otherwise registers the operation
//! and starts its workflow.
//!
//! Registering before starting is what makes a request idempotent across API replicas and
//! crashes: the row is claimed once per (user, key), and starting the workflow is itself
//! idempotent (`djinn_temporal::starts`: its id derives from the key, and an existing run is
//! reused), so a retry after a crash between the two steps starts the workflow that the first
//! attempt did not; a registration nobody retries is started by the worker's sweeper.

mod create_recurring_transfer;
mod create_transfer;
mod decide;
mod import_statement;
mod open_account;
mod reconcile_account;
mod recurring_status;
mod reverse_transfer;
mod set_approval_threshold;
mod set_overdraft_limit;

pub use create_recurring_transfer::create_recurring_transfer;
pub use create_transfer::create_transfer;
pub use decide::{approve_transfer, cancel_transfer};
pub use import_statement::import_statement;
pub use open_account::open_account;
pub use reconcile_account::reconcile_account;
pub use recurring_status::change_recurring_status;
pub use reverse_transfer::reverse_transfer;
pub use set_approval_threshold::set_approval_threshold;
pub use set_overdraft_limit::set_overdraft_limit;

use crate::schema::UserError;
use crate::schema::ids::{self, NodeType};
use crate::schema::money::MoneyInputError;
use djinn_domain::{AMOUNT_MAX_MINOR, AccountId, Money, RejectionCode};

pub(crate) fn money_error(error: MoneyInputError, path: &[&str]) -> UserError {
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

/// `input` as money of the account's `currency`, within any amount's range; below zero only
/// when `may_be_negative`.
pub(crate) fn account_amount(
    input: &crate::schema::MoneyInput,
    currency: djinn_domain::Currency,
    field: &str,
    what: &str,
    may_be_negative: bool,
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
    if money.amount_minor() < 0 && !may_be_negative {
        return Err(invalid(format!("the {what} must not be negative")));
    }
    if money.amount_minor().unsigned_abs() > AMOUNT_MAX_MINOR.unsigned_abs() {
        return Err(invalid(format!("the {what} is too large")));
    }
    Ok(money)
}

/// The account behind a global id, or a userError at `input.<field>` (ACCOUNT_NOT_FOUND).
pub(crate) fn account_id(id: &str, field: &str, errors: &mut Vec<UserError>) -> Option<AccountId> {
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
