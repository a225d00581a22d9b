//! The memo every Djinn workflow starts with: a one-line human summary, so that operations staff
//! see at a glance in the Temporal UI what a run is about ("Transfer of 25.00 USD from account
//! ... to account ..."). A memo is a payload, so the codec encrypts it like the input: the
//! server stores no amount or name in clear, and the UI shows the summary to staff through the
//! codec endpoints. Search attributes, which the server must read, carry no money.
//!
//! The server keeps a run's memo in its state, so it costs a little on every update. Measured
//! in `make bench` against a control phase without a memo, that cost was below the run's
//! noise (docs/BENCHMARKS.md), so every workflow carries one.

use djinn_domain::{AccountKind, AccountName, Money, TransferRequest};

/// The memo key of the summary.
pub const SUMMARY: &str = "summary";

/// "Transfer of 25.00 USD from account <id> to account <id>", with the description after a colon.
pub fn transfer_summary(request: &TransferRequest) -> String {
    let mut summary = format!(
        "Transfer of {} from account {} to account {}",
        request.amount, request.from, request.to
    );
    if let Some(description) = &request.description {
        summary.push_str(": ");
        summary.push_str(description.as_str());
    }
    summary
}

/// "Opening of checking account \"Rent\" with 100.00 USD", and its overdraft limit if any.
pub fn opening_summary(
    name: &AccountName,
    kind: AccountKind,
    opening_balance: Money,
    overdraft_limit: Option<Money>,
) -> String {
    let mut summary = format!(
        "Opening of {} account {:?} with {opening_balance}",
        kind.as_str().replace('_', " "),
        name.as_str()
    );
    if let Some(limit) = overdraft_limit {
        summary.push_str(&format!(", overdraft limit {limit}"));
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use djinn_domain::{AccountId, Currency, Description};

    fn usd(minor: i64) -> Money {
        Money::from_minor(minor, Currency::parse("USD").expect("USD is known"))
    }

    #[test]
    fn a_transfer_reads_as_amount_accounts_and_description() {
        let (from, to) = (AccountId::generate(), AccountId::generate());
        let mut request = TransferRequest::new(from, to, usd(2_500), None).expect("valid");
        assert_eq!(
            transfer_summary(&request),
            format!("Transfer of 25.00 USD from account {from} to account {to}")
        );
        request.description = Description::parse("rent").expect("valid");
        assert_eq!(
            transfer_summary(&request),
            format!("Transfer of 25.00 USD from account {from} to account {to}: rent")
        );
    }

    #[test]
    fn an_opening_reads_as_kind_name_balance_and_limit() {
        let name = AccountName::parse("Everyday \"main\"").expect("valid");
        assert_eq!(
            opening_summary(&name, AccountKind::CreditCard, usd(0), None),
            "Opening of credit card account \"Everyday \\\"main\\\"\" with 0.00 USD"
        );
        assert_eq!(
            opening_summary(&name, AccountKind::Checking, usd(10_000), Some(usd(5_000))),
            "Opening of checking account \"Everyday \\\"main\\\"\" with 100.00 USD, overdraft limit 50.00 USD"
        );
    }
}
