//! Exact amounts of money: `i64` minor units plus a currency, with checked arithmetic.
//!
//! A float never touches an amount. Decimal strings are parsed digit by digit so that "0.1" is
//! exactly ten cents, and an amount with more decimals than its currency has is refused rather
//! than rounded.

use crate::currency::Currency;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest decimal string we try to parse; anything longer cannot fit in an `i64` anyway.
const DECIMAL_STRING_MAX_CHARS: usize = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    amount_minor: i64,
    currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("the amount is empty")]
    Empty,
    #[error("the amount {0:?} is not a plain decimal number such as \"1234.56\"")]
    Malformed(String),
    #[error("{currency} amounts have at most {max_decimals} decimal places")]
    TooManyDecimals {
        currency: Currency,
        max_decimals: u8,
    },
    #[error("the amount is too large")]
    Overflow,
    #[error("the amount must be greater than zero")]
    NotPositive,
    #[error("currencies differ: {left} and {right}")]
    CurrencyMismatch { left: Currency, right: Currency },
}

impl Money {
    pub const fn from_minor(amount_minor: i64, currency: Currency) -> Self {
        Self {
            amount_minor,
            currency,
        }
    }

    pub const fn zero(currency: Currency) -> Self {
        Self::from_minor(0, currency)
    }

    pub const fn amount_minor(&self) -> i64 {
        self.amount_minor
    }

    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// Parses an exact decimal string such as "1234.56", "-3" or "0.5".
    ///
    /// Accepted: an optional leading '-', at least one digit, then optionally '.' and between one
    /// and `currency.exponent()` digits. Refused: whitespace, '+', exponents, separators, a bare
    /// '.', more decimals than the currency has, and anything outside the `i64` range of minor
    /// units.
    pub fn parse(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        if text.is_empty() {
            return Err(MoneyError::Empty);
        }
        let malformed =
            || MoneyError::Malformed(text.chars().take(DECIMAL_STRING_MAX_CHARS).collect());
        if text.len() > DECIMAL_STRING_MAX_CHARS {
            return Err(
                if text
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
                {
                    MoneyError::Overflow
                } else {
                    malformed()
                },
            );
        }
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = match unsigned.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (unsigned, None),
        };
        let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
            return Err(malformed());
        }
        let fraction = fraction.unwrap_or("");
        let exponent = currency.exponent();
        if fraction.len() > usize::from(exponent) {
            return Err(MoneyError::TooManyDecimals {
                currency,
                max_decimals: exponent,
            });
        }

        // Accumulate as a negative number so that i64::MIN is reachable, then flip the sign.
        let mut minor: i64 = 0;
        let padding = usize::from(exponent) - fraction.len();
        let digits = whole
            .bytes()
            .chain(fraction.bytes())
            .chain(std::iter::repeat_n(b'0', padding));
        for digit in digits {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_sub(i64::from(digit - b'0')))
                .ok_or(MoneyError::Overflow)?;
        }
        let amount_minor = if negative {
            minor
        } else {
            minor.checked_neg().ok_or(MoneyError::Overflow)?
        };
        Ok(Self::from_minor(amount_minor, currency))
    }

    /// Like [`Money::parse`], but only amounts above zero pass: what a transfer may move.
    pub fn parse_positive(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        let money = Self::parse(text, currency)?;
        if money.amount_minor <= 0 {
            return Err(MoneyError::NotPositive);
        }
        Ok(money)
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let sum = self
            .amount_minor
            .checked_add(other.amount_minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::from_minor(sum, self.currency))
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let difference = self
            .amount_minor
            .checked_sub(other.amount_minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::from_minor(difference, self.currency))
    }

    pub fn checked_neg(self) -> Result<Money, MoneyError> {
        let negated = self
            .amount_minor
            .checked_neg()
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::from_minor(negated, self.currency))
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    /// The exact decimal string, with exactly `exponent` decimals ("12.30", "-0.05", "100").
    pub fn to_decimal_string(&self) -> String {
        let exponent = u32::from(self.currency.exponent());
        let magnitude = self.amount_minor.unsigned_abs();
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        if exponent == 0 {
            return format!("{sign}{magnitude}");
        }
        let scale = 10_u64.pow(exponent);
        let width = exponent as usize;
        format!("{sign}{}.{:0width$}", magnitude / scale, magnitude % scale)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").expect("USD is known")
    }
    fn jpy() -> Currency {
        Currency::parse("JPY").expect("JPY is known")
    }
    fn kwd() -> Currency {
        Currency::parse("KWD").expect("KWD is known")
    }

    fn minor(text: &str, currency: Currency) -> Result<i64, MoneyError> {
        Money::parse(text, currency).map(|m| m.amount_minor())
    }

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(minor("1234.56", usd()), Ok(123_456));
        assert_eq!(minor("0.1", usd()), Ok(10));
        assert_eq!(minor("0.01", usd()), Ok(1));
        assert_eq!(minor("7", usd()), Ok(700));
        assert_eq!(minor("007.50", usd()), Ok(750));
        assert_eq!(minor("-3.2", usd()), Ok(-320));
        assert_eq!(minor("1000", jpy()), Ok(1000));
        assert_eq!(minor("1.234", kwd()), Ok(1234));
        assert_eq!(minor("0", usd()), Ok(0));
    }

    #[test]
    fn refuses_too_many_decimals_for_the_currency() {
        assert_eq!(
            minor("1.001", usd()),
            Err(MoneyError::TooManyDecimals {
                currency: usd(),
                max_decimals: 2
            })
        );
        assert_eq!(
            minor("1.0", jpy()),
            Err(MoneyError::TooManyDecimals {
                currency: jpy(),
                max_decimals: 0
            })
        );
        assert!(matches!(
            minor("1.2345", kwd()),
            Err(MoneyError::TooManyDecimals { .. })
        ));
    }

    #[test]
    fn refuses_empty_and_malformed_text() {
        assert_eq!(minor("", usd()), Err(MoneyError::Empty));
        for text in [
            " 1", "1 ", "1 000", "+1", "--1", "-", ".", ".5", "5.", "1.2.3", "1e3", "1E3", "abc",
            "0x10", "1,00", "１", "NaN", "inf", "1_000", "-.5",
        ] {
            assert!(
                matches!(minor(text, usd()), Err(MoneyError::Malformed(_))),
                "{text:?} must be malformed"
            );
        }
    }

    #[test]
    fn refuses_overflow_and_reaches_the_edges() {
        assert_eq!(minor("92233720368547758.07", usd()), Ok(i64::MAX));
        assert_eq!(minor("-92233720368547758.08", usd()), Ok(i64::MIN));
        assert_eq!(
            minor("92233720368547758.08", usd()),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            minor("9223372036854775808", jpy()),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            minor("99999999999999999999", usd()),
            Err(MoneyError::Overflow)
        );
        assert_eq!(minor(&"9".repeat(60), usd()), Err(MoneyError::Overflow));
    }

    #[test]
    fn positive_amounts_only_where_money_moves() {
        assert_eq!(
            Money::parse_positive("0", usd()),
            Err(MoneyError::NotPositive)
        );
        assert_eq!(
            Money::parse_positive("0.00", usd()),
            Err(MoneyError::NotPositive)
        );
        assert_eq!(
            Money::parse_positive("-1", usd()),
            Err(MoneyError::NotPositive)
        );
        assert_eq!(
            Money::parse_positive("0.01", usd()).map(|m| m.amount_minor()),
            Ok(1)
        );
    }

    #[test]
    fn formats_exactly_and_round_trips() {
        let cases = [
            (123_456, usd(), "1234.56"),
            (-5, usd(), "-0.05"),
            (100, jpy(), "100"),
            (1, kwd(), "0.001"),
            (i64::MIN, usd(), "-92233720368547758.08"),
            (0, usd(), "0.00"),
        ];
        for (amount_minor, currency, text) in cases {
            let money = Money::from_minor(amount_minor, currency);
            assert_eq!(money.to_decimal_string(), text);
            assert_eq!(Money::parse(text, currency), Ok(money));
        }
    }

    #[test]
    fn arithmetic_is_checked() {
        let max = Money::from_minor(i64::MAX, usd());
        let one = Money::from_minor(1, usd());
        assert_eq!(max.checked_add(one), Err(MoneyError::Overflow));
        assert_eq!(
            Money::from_minor(i64::MIN, usd()).checked_neg(),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::from_minor(i64::MIN, usd()).checked_sub(one),
            Err(MoneyError::Overflow)
        );
        assert!(matches!(
            one.checked_add(Money::from_minor(1, jpy())),
            Err(MoneyError::CurrencyMismatch { .. })
        ));
        assert_eq!(one.checked_add(one).map(|m| m.amount_minor()), Ok(2));
    }
}
