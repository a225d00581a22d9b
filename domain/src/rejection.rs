//! Stable codes for the ways an operation can be refused or given up.
//!
//! They are shared by the store (which raises them), the workflows (which void a transfer on
//! them and carry them in their contracts) and GraphQL (which shows them as `userErrors`), so
//! each code is spelled once, here. Each says what happened: a transfer that ran out of time
//! is `TIMED_OUT`, not a refusal it never received.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an operation was refused or voided. Each has a stable code shared with GraphQL
/// `userErrors`, with the application-failure type of the activity that hit it, and with the
/// workflows' inputs and outcomes, where it is serialized as that code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectionCode {
    InvalidAmount,
    InvalidIdempotencyKey,
    InvalidDescription,
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
    /// A request that moves money from an account needs a key, so a retry cannot move it twice.
    IdempotencyKeyRequired,
    /// An account of a kind the user cannot open (the system's equity and clearing accounts).
    InvalidAccountKind,
    /// The ledger was asked to move money that no operation registered, or other money than
    /// its operation registered: a workflow started past the API.
    NotRegistered,
    /// The operation is no longer waiting for this step (it failed, or was settled otherwise).
    NotPending,
    /// The ledger step kept failing (the database unreachable) until its deadline passed.
    TimedOut,
    /// The operation's run ended (failed, terminated, timed out) before it settled it: the
    /// worker's sweeper settled it instead.
    RunEnded,
    /// The ledger found one of its invariants broken; staff must look.
    LedgerInvariant,
    /// The ledger step failed in a way that is neither a refusal nor an outage.
    LedgerStepFailed,
    /// The transfer's owner cancelled it while it awaited approval (or staff cancelled its run).
    Cancelled,
    /// Nobody approved the transfer before its deadline.
    ApprovalExpired,
    /// The ledger was asked to post at once a transfer that must wait for approval.
    ApprovalRequired,
    /// A decision (approve, cancel) about a transfer that does not await one.
    NotAwaitingApproval,
    /// No transfer of the user's has this id.
    TransferNotFound,
    /// The transfer was reversed already; a transfer is reversed once.
    AlreadyReversed,
    /// Only a posted transfer can be reversed.
    NotPosted,
}

impl RejectionCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectionCode::InvalidAmount => "INVALID_AMOUNT",
            RejectionCode::InvalidIdempotencyKey => "INVALID_IDEMPOTENCY_KEY",
            RejectionCode::InvalidDescription => "INVALID_DESCRIPTION",
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
            RejectionCode::IdempotencyKeyRequired => "IDEMPOTENCY_KEY_REQUIRED",
            RejectionCode::InvalidAccountKind => "INVALID_ACCOUNT_KIND",
            RejectionCode::NotRegistered => "NOT_REGISTERED",
            RejectionCode::NotPending => "NOT_PENDING",
            RejectionCode::TimedOut => "TIMED_OUT",
            RejectionCode::RunEnded => "RUN_ENDED",
            RejectionCode::LedgerInvariant => "LEDGER_INVARIANT",
            RejectionCode::LedgerStepFailed => "LEDGER_STEP_FAILED",
            RejectionCode::Cancelled => "CANCELLED",
            RejectionCode::ApprovalExpired => "APPROVAL_EXPIRED",
            RejectionCode::ApprovalRequired => "APPROVAL_REQUIRED",
            RejectionCode::NotAwaitingApproval => "NOT_AWAITING_APPROVAL",
            RejectionCode::TransferNotFound => "TRANSFER_NOT_FOUND",
            RejectionCode::AlreadyReversed => "ALREADY_REVERSED",
            RejectionCode::NotPosted => "NOT_POSTED",
        }
    }

    /// Every code, in declaration order.
    pub const ALL: [RejectionCode; 28] = [
        RejectionCode::InvalidAmount,
        RejectionCode::InvalidIdempotencyKey,
        RejectionCode::InvalidDescription,
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
        RejectionCode::IdempotencyKeyRequired,
        RejectionCode::InvalidAccountKind,
        RejectionCode::NotRegistered,
        RejectionCode::NotPending,
        RejectionCode::TimedOut,
        RejectionCode::RunEnded,
        RejectionCode::LedgerInvariant,
        RejectionCode::LedgerStepFailed,
        RejectionCode::Cancelled,
        RejectionCode::ApprovalExpired,
        RejectionCode::ApprovalRequired,
        RejectionCode::NotAwaitingApproval,
        RejectionCode::TransferNotFound,
        RejectionCode::AlreadyReversed,
        RejectionCode::NotPosted,
    ];

    /// What the code tells a user: a stable text, the same for every operation refused or
    /// voided with it, never an internal error's words (those stay in the logs and, for staff,
    /// in the workflow's history).
    pub const fn message(self) -> &'static str {
        match self {
            RejectionCode::InvalidAmount => "the amount is not valid",
            RejectionCode::InvalidIdempotencyKey => "the idempotency key is not valid",
            RejectionCode::InvalidDescription => "the description is not valid",
            RejectionCode::SameAccount => "the source and destination accounts must differ",
            RejectionCode::AccountNotFound => "no such account",
            RejectionCode::AccountClosed => "the account is closed",
            RejectionCode::CurrencyMismatch => "the amount is not in the accounts' currency",
            RejectionCode::InsufficientFunds => "the available balance is too low",
            RejectionCode::AmountOutOfRange => "the amount is out of range",
            RejectionCode::TransferVoided => "the transfer was voided",
            RejectionCode::TransferPosted => "the transfer was posted: it can only be reversed",
            RejectionCode::NotReserved => "the transfer could not be completed",
            RejectionCode::IdempotencyKeyReused => {
                "the idempotency key was used for another request"
            }
            RejectionCode::IdempotencyKeyRequired => "the request needs an idempotency key",
            RejectionCode::InvalidAccountKind => "this kind of account cannot be opened",
            RejectionCode::NotRegistered => "no such request was made",
            RejectionCode::NotPending => "the request is no longer pending",
            RejectionCode::TimedOut => "the transfer did not complete in time",
            RejectionCode::RunEnded => "the operation was stopped before it completed",
            RejectionCode::LedgerInvariant | RejectionCode::LedgerStepFailed => {
                "the transfer could not be completed; support has been told"
            }
            RejectionCode::Cancelled => "the transfer was cancelled",
            RejectionCode::ApprovalExpired => "the transfer was not approved before its deadline",
            RejectionCode::ApprovalRequired => "the transfer must be approved before it is posted",
            RejectionCode::NotAwaitingApproval => "the transfer is not awaiting approval",
            RejectionCode::TransferNotFound => "no such transfer",
            RejectionCode::AlreadyReversed => "the transfer was reversed already",
            RejectionCode::NotPosted => "only a posted transfer can be reversed",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL
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
            crate::TransferError::NotPositive | crate::TransferError::TooLarge => {
                RejectionCode::InvalidAmount
            }
            crate::TransferError::InvalidIdempotencyKey => RejectionCode::InvalidIdempotencyKey,
            crate::TransferError::InvalidDescription => RejectionCode::InvalidDescription,
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

    #[test]
    fn every_code_round_trips_and_serializes_as_itself() {
        for code in RejectionCode::ALL {
            assert_eq!(RejectionCode::parse(code.as_str()), Some(code));
            let json = serde_json::to_string(&code).expect("serializes");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(
                serde_json::from_str::<RejectionCode>(&json).ok(),
                Some(code)
            );
        }
    }

    #[test]
    fn codes_say_what_happened() {
        assert_eq!(
            RejectionCode::from(crate::TransferError::InvalidIdempotencyKey),
            RejectionCode::InvalidIdempotencyKey
        );
        assert_eq!(
            RejectionCode::from(crate::TransferError::InvalidDescription),
            RejectionCode::InvalidDescription
        );
        assert_eq!(
            RejectionCode::from(crate::TransferError::TooLarge),
            RejectionCode::InvalidAmount
        );
    }
}
