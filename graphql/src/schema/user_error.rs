//! `userErrors`: problems the user can fix, with stable codes. They change nothing.

use async_graphql::SimpleObject;
use djinn_domain::RejectionCode;

#[derive(SimpleObject, Clone, Debug, PartialEq, Eq)]
pub struct UserError {
    /// Path to the input field at fault, e.g. ["input", "amount", "amount"].
    pub field: Option<Vec<String>>,
    /// Stable, machine-readable: INVALID_AMOUNT, CURRENCY_MISMATCH, SAME_ACCOUNT, ...
    pub code: String,
    pub message: String,
}

impl UserError {
    pub fn new(field: &[&str], code: &str, message: impl Into<String>) -> Self {
        let field =
            (!field.is_empty()).then(|| field.iter().map(|part| (*part).to_owned()).collect());
        Self {
            field,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    pub fn rejection(field: &[&str], code: RejectionCode, message: impl Into<String>) -> Self {
        Self::new(field, code.as_str(), message)
    }
}

/// The parsed value, or `None` with a userError recorded against `field`: lets a mutation
/// collect every problem of its input in one pass.
pub fn check<T, E: std::fmt::Display>(
    result: Result<T, E>,
    errors: &mut Vec<UserError>,
    field: &[&str],
    code: &str,
) -> Option<T> {
    result
        .map_err(|error| errors.push(UserError::new(field, code, error.to_string())))
        .ok()
}
