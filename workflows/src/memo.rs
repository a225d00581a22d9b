//! The memo an account opening starts with: a one-line human summary, so that operations staff
//! see at a glance in the Temporal UI (the run's Memo tab) what the run is about. A memo is a
//! payload, so the codec encrypts it like the input: the server stores no name or amount in
//! clear, and the UI shows the summary to staff through the codec endpoints.
//!
//! Transfers carry none. The server keeps a run's memo in its state and rewrites it with every
//! update; in `make bench` a transfer-sized summary cost the server 0.5 to 2 ms of CPU per
//! workflow (5-15% of a workflow's cost), on the operation whose throughput matters most. The
//! decoded input tells staff the same facts (amount, accounts, description).

use djinn_domain::{AccountKind, AccountName, Money};

/// The memo key of the summary.
pub const SUMMARY: &str = "summary";

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
    use djinn_domain::Currency;

    fn usd(minor: i64) -> Money {
        Money::from_minor(minor, Currency::parse("USD").expect("USD is known"))
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
