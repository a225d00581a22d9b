//! What a transfer between two of a user's accounts is, before anything is written.

use crate::{AccountId, Money, UserId};
use serde::{Deserialize, Serialize};

/// Longest idempotency key a client may send, in bytes.
pub const IDEMPOTENCY_KEY_MAX_BYTES: usize = 100;
/// The largest amount a single transfer or opening balance may carry, in minor units (10^15:
/// ten trillion dollars). Far above any personal transfer, and far enough below `i64::MAX` that
/// balances built from such amounts cannot overflow in any realistic ledger.
pub const AMOUNT_MAX_MINOR: i64 = 1_000_000_000_000_000;
/// Longest transfer description, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error(
        "the idempotency key must be 1 to {IDEMPOTENCY_KEY_MAX_BYTES} characters of A-Z, a-z, 0-9, '-', '_', '.' or ':'"
    )]
    InvalidIdempotencyKey,
    #[error(
        "the description must be at most {DESCRIPTION_MAX_CHARS} characters without control characters"
    )]
    InvalidDescription,
    #[error("the source and destination accounts must differ")]
    SameAccount,
    #[error("the amount must be greater than zero")]
    NotPositive,
    #[error("the amount is larger than a single transfer may carry")]
    TooLarge,
}

/// The client's key for a money-moving request. It becomes part of the workflow id, so it is
/// restricted to characters that read well in the Temporal UI and in URLs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(key: &str) -> Result<Self, TransferError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
        if key.is_empty() || key.len() > IDEMPOTENCY_KEY_MAX_BYTES || !key.chars().all(allowed) {
            return Err(TransferError::InvalidIdempotencyKey);
        }
        Ok(Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A free-text note on a transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description(String);

impl Description {
    /// Trims the text; an empty description is no description.
    pub fn parse(text: &str) -> Result<Option<Self>, TransferError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if trimmed.chars().count() > DESCRIPTION_MAX_CHARS
            || trimmed.chars().any(|c| c.is_control() && c != '\n')
        {
            return Err(TransferError::InvalidDescription);
        }
        Ok(Some(Self(trimmed.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A transfer that passed every check that needs no database: two different accounts and an
/// amount above zero. Ownership, currencies and funds are checked against the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRequest {
    pub from: AccountId,
    pub to: AccountId,
    pub amount: Money,
    pub description: Option<Description>,
}

impl TransferRequest {
    pub fn new(
        from: AccountId,
        to: AccountId,
        amount: Money,
        description: Option<Description>,
    ) -> Result<Self, TransferError> {
        let request = Self {
            from,
            to,
            amount,
            description,
        };
        request.validate()?;
        Ok(request)
    }

    /// Re-checks the invariants; workflows call it on their input, which may have been written
    /// by any client of the Temporal API.
    pub fn validate(&self) -> Result<(), TransferError> {
        if self.from == self.to {
            return Err(TransferError::SameAccount);
        }
        if self.amount.amount_minor() <= 0 {
            return Err(TransferError::NotPositive);
        }
        if self.amount.amount_minor() > AMOUNT_MAX_MINOR {
            return Err(TransferError::TooLarge);
        }
        Ok(())
    }
}

/// The workflow id of a transfer: readable in the Temporal UI and unique per user and key, so a
/// duplicate request can never start a second workflow.
pub fn transfer_workflow_id(user: UserId, key: &IdempotencyKey) -> String {
    format!("transfer:{user}:{}", key.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Currency;

    fn usd(amount_minor: i64) -> Money {
        Money::from_minor(amount_minor, Currency::parse("USD").expect("known"))
    }

    #[test]
    fn idempotency_keys_are_bounded_and_readable() {
        assert!(IdempotencyKey::parse("rent-2026-11").is_ok());
        assert!(IdempotencyKey::parse("0193a0c4-8e2b-7cc1-9c1e-3b5e9d2f1a00").is_ok());
        for bad in ["", " ", "a b", "a/b", "ключ", &"k".repeat(101)] {
            assert_eq!(
                IdempotencyKey::parse(bad),
                Err(TransferError::InvalidIdempotencyKey),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn transfers_need_two_accounts_and_a_positive_amount() {
        let (a, b) = (AccountId::generate(), AccountId::generate());
        assert!(TransferRequest::new(a, b, usd(1), None).is_ok());
        assert_eq!(
            TransferRequest::new(a, a, usd(1), None),
            Err(TransferError::SameAccount)
        );
        assert_eq!(
            TransferRequest::new(a, b, usd(0), None),
            Err(TransferError::NotPositive)
        );
        assert_eq!(
            TransferRequest::new(a, b, usd(-5), None),
            Err(TransferError::NotPositive)
        );
    }

    #[test]
    fn descriptions_are_trimmed_and_bounded() {
        assert_eq!(Description::parse("  "), Ok(None));
        assert_eq!(
            Description::parse(" rent ").map(|d| d.map(|d| d.as_str().to_owned())),
            Ok(Some("rent".into()))
        );
        assert_eq!(
            Description::parse(&"x".repeat(501)),
            Err(TransferError::InvalidDescription)
        );
    }

    #[test]
    fn workflow_ids_read_as_business_ids() {
        let user = UserId::generate();
        let key = IdempotencyKey::parse("k1").expect("valid");
        assert_eq!(
            transfer_workflow_id(user, &key),
            format!("transfer:{user}:k1")
        );
    }
}
