//! Account kinds and names.

use serde::{Deserialize, Serialize};

/// What an account is for. User-facing kinds are listed first; the system kinds exist so that
/// every journal entry balances (equity for opening balances, clearing for the outside world).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Checking,
    Savings,
    CreditCard,
    Cash,
    Loan,
    /// System: the counterpart of opening balances, one per user and currency.
    Equity,
    /// System: the outside world, one per user and currency.
    Clearing,
}

impl AccountKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            AccountKind::Checking => "checking",
            AccountKind::Savings => "savings",
            AccountKind::CreditCard => "credit_card",
            AccountKind::Cash => "cash",
            AccountKind::Loan => "loan",
            AccountKind::Equity => "equity",
            AccountKind::Clearing => "clearing",
        }
    }

    pub fn parse(kind: &str) -> Option<Self> {
        [
            AccountKind::Checking,
            AccountKind::Savings,
            AccountKind::CreditCard,
            AccountKind::Cash,
            AccountKind::Loan,
            AccountKind::Equity,
            AccountKind::Clearing,
        ]
        .into_iter()
        .find(|candidate| candidate.as_str() == kind)
    }

    /// System accounts may go below zero: they mirror money entering or leaving the user's books.
    pub const fn is_system(self) -> bool {
        matches!(self, AccountKind::Equity | AccountKind::Clearing)
    }

    /// Accounts of money owed (a credit card, a loan) may open owing, within their credit line.
    pub const fn may_open_owing(self) -> bool {
        matches!(self, AccountKind::CreditCard | AccountKind::Loan)
    }
}

/// Longest account name we store, in characters.
pub const ACCOUNT_NAME_MAX_CHARS: usize = 100;

/// A trimmed, non-empty account name of at most [`ACCOUNT_NAME_MAX_CHARS`] characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountNameError {
    #[error("the account name must not be empty")]
    Empty,
    #[error("the account name must be at most {ACCOUNT_NAME_MAX_CHARS} characters")]
    TooLong,
    #[error("the account name must not contain control characters")]
    ControlCharacter,
}

impl AccountName {
    pub fn parse(name: &str) -> Result<Self, AccountNameError> {
        let trimmed = name.trim();
        if trimmed.is_empty() {
            return Err(AccountNameError::Empty);
        }
        if trimmed.chars().count() > ACCOUNT_NAME_MAX_CHARS {
            return Err(AccountNameError::TooLong);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(AccountNameError::ControlCharacter);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            AccountName::parse("  Rent  ").map(|n| n.as_str().to_owned()),
            Ok("Rent".into())
        );
        assert_eq!(AccountName::parse("   "), Err(AccountNameError::Empty));
        assert_eq!(
            AccountName::parse(&"x".repeat(101)),
            Err(AccountNameError::TooLong)
        );
        assert_eq!(
            AccountName::parse("a\u{0}b"),
            Err(AccountNameError::ControlCharacter)
        );
    }

    #[test]
    fn kinds_round_trip() {
        for kind in [
            "checking",
            "savings",
            "credit_card",
            "cash",
            "loan",
            "equity",
            "clearing",
        ] {
            assert_eq!(
                AccountKind::parse(kind).map(AccountKind::as_str),
                Some(kind)
            );
        }
        assert_eq!(AccountKind::parse("CHECKING"), None);
    }
}
