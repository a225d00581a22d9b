//! Double-entry rules: the postings of a journal entry sum to zero per currency.
//!
//! The check runs where postings are written (activities) and where they are read back
//! (ledger verification), so a bug on either side is caught at the boundary it crosses.

use crate::{AccountId, Currency};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One leg of a journal entry. A positive amount increases the account's balance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    pub account_id: AccountId,
    pub amount_minor: i64,
    pub currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("a journal entry needs at least two postings")]
    TooFewPostings,
    #[error("a posting of zero is meaningless")]
    ZeroPosting,
    #[error("postings in {currency} sum to {sum_minor} instead of zero")]
    Unbalanced { currency: Currency, sum_minor: i128 },
}

/// Asserts the invariant of double entry. Sums in `i128` so that no overflow can hide an
/// imbalance.
pub fn assert_balanced(postings: &[Posting]) -> Result<(), LedgerError> {
    if postings.len() < 2 {
        return Err(LedgerError::TooFewPostings);
    }
    if postings.iter().any(|p| p.amount_minor == 0) {
        return Err(LedgerError::ZeroPosting);
    }
    let mut sums: BTreeMap<Currency, i128> = BTreeMap::new();
    for posting in postings {
        *sums.entry(posting.currency).or_default() += i128::from(posting.amount_minor);
    }
    match sums.into_iter().find(|(_, sum)| *sum != 0) {
        Some((currency, sum_minor)) => Err(LedgerError::Unbalanced {
            currency,
            sum_minor,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posting(amount_minor: i64, code: &str) -> Posting {
        Posting {
            account_id: AccountId::generate(),
            amount_minor,
            currency: Currency::parse(code).expect("known currency"),
        }
    }

    #[test]
    fn balanced_entries_pass() {
        assert_eq!(
            assert_balanced(&[posting(-500, "USD"), posting(500, "USD")]),
            Ok(())
        );
        assert_eq!(
            assert_balanced(&[
                posting(-1, "USD"),
                posting(1, "USD"),
                posting(7, "EUR"),
                posting(-7, "EUR")
            ]),
            Ok(())
        );
    }

    #[test]
    fn unbalanced_entries_fail() {
        assert!(matches!(
            assert_balanced(&[posting(-500, "USD"), posting(499, "USD")]),
            Err(LedgerError::Unbalanced { .. })
        ));
        assert!(matches!(
            assert_balanced(&[posting(-5, "USD"), posting(5, "EUR")]),
            Err(LedgerError::Unbalanced { .. })
        ));
        assert_eq!(
            assert_balanced(&[posting(5, "USD")]),
            Err(LedgerError::TooFewPostings)
        );
        assert_eq!(
            assert_balanced(&[posting(0, "USD"), posting(0, "USD")]),
            Err(LedgerError::ZeroPosting)
        );
        // i64::MAX + i64::MAX would overflow an i64 sum and could wrap to a false zero.
        assert!(
            assert_balanced(&[
                posting(i64::MAX, "USD"),
                posting(i64::MAX, "USD"),
                posting(2, "USD")
            ])
            .is_err()
        );
    }
}
