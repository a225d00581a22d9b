//! Stable codes for the ways the ledger can refuse an operation.
//!
//! They are shared by the store (which raises them), the workflows (which void a transfer on
//! them) and GraphQL (which shows them as `userErrors`), so each code is spelled once, here.

use std::fmt;

/// Why the ledger refused a write. Each has a stable code shared with GraphQL `userErrors` and
/// with the application-failure type of the activity that hit it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectionCode {
    InvalidAmount,
    SameAccount,
    AccountNotFound,
    AccountClosed,
    CurrencyMismatch,
    InsufficientFunds,
    AmountOutOfRange,
    TransferVoided,
    /// A void found the transfer posted: the money moved, and only a reversal can undo it.
    TransferPosted,
    NotReserved,
    IdempotencyKeyReused,
}

impl RejectionCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectionCode::InvalidAmount => "INVALID_AMOUNT",
            RejectionCode::SameAccount => "SAME_ACCOUNT",
            RejectionCode::AccountNotFound => "ACCOUNT_NOT_FOUND",
            RejectionCode::AccountClosed => "ACCOUNT_CLOSED",
            RejectionCode::CurrencyMismatch => "CURRENCY_MISMATCH",
            RejectionCode::InsufficientFunds => "INSUFFICIENT_FUNDS",
            RejectionCode::AmountOutOfRange => "AMOUNT_OUT_OF_RANGE",
            RejectionCode::TransferVoided => "TRANSFER_VOIDED",
            RejectionCode::TransferPosted => "TRANSFER_POSTED",
            RejectionCode::NotReserved => "NOT_RESERVED",
            RejectionCode::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        [
            RejectionCode::InvalidAmount,
            RejectionCode::SameAccount,
            RejectionCode::AccountNotFound,
            RejectionCode::AccountClosed,
            RejectionCode::CurrencyMismatch,
            RejectionCode::InsufficientFunds,
            RejectionCode::AmountOutOfRange,
            RejectionCode::TransferVoided,
            RejectionCode::TransferPosted,
            RejectionCode::NotReserved,
            RejectionCode::IdempotencyKeyReused,
        ]
        .into_iter()
        .find(|candidate| candidate.as_str() == code)
    }
}

impl fmt::Display for RejectionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<crate::TransferError> for RejectionCode {
    fn from(error: crate::TransferError) -> Self {
        match error {
            crate::TransferError::SameAccount => RejectionCode::SameAccount,
            crate::TransferError::NotPositive
            | crate::TransferError::InvalidIdempotencyKey
            | crate::TransferError::TooLarge
            | crate::TransferError::InvalidDescription => RejectionCode::InvalidAmount,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in [
            "INVALID_AMOUNT",
            "SAME_ACCOUNT",
            "ACCOUNT_NOT_FOUND",
            "INSUFFICIENT_FUNDS",
            "TRANSFER_VOIDED",
            "TRANSFER_POSTED",
        ] {
            assert_eq!(
                RejectionCode::parse(code).map(RejectionCode::as_str),
                Some(code)
            );
        }
        assert_eq!(RejectionCode::parse("nope"), None);
    }
}
