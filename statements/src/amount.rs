//! Amounts as banks write them, read exactly into minor units: a sign in front (or a trailing
//! '-'), thousands separators, a decimal comma, more decimal places than the currency has when
//! they are zeros ("1000.00000" in CAMT). Never through a float.

use djinn_domain::{Currency, Money};

/// How a file writes its numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notation {
    pub decimal: char,
    pub thousands: Option<char>,
}

pub const PLAIN: Notation = Notation {
    decimal: '.',
    thousands: None,
};

/// `text` as money of `currency`, or why not.
pub fn parse(text: &str, currency: Currency, notation: Notation) -> Result<Money, String> {
    let trimmed = text.trim();
    let (negative, unsigned) = if let Some(rest) = trimmed.strip_prefix('-') {
        (true, rest)
    } else if let Some(rest) = trimmed.strip_suffix('-') {
        (true, rest)
    } else {
        (false, trimmed.strip_prefix('+').unwrap_or(trimmed))
    };
    let mut plain = String::with_capacity(unsigned.len() + 1);
    if negative {
        plain.push('-');
    }
    for c in unsigned.trim().chars() {
        if Some(c) == notation.thousands || (notation.thousands == Some(' ') && c == '\u{a0}') {
            continue;
        }
        plain.push(if c == notation.decimal { '.' } else { c });
    }
    let plain = without_extra_zeros(&plain, currency.exponent());
    Money::parse(&plain, currency).map_err(|error| format!("amount {text:?}: {error}"))
}

/// Drops decimal places beyond `exponent` when they are zeros: "1.2300" -> "1.23".
fn without_extra_zeros(text: &str, exponent: u8) -> String {
    let Some((whole, fraction)) = text.split_once('.') else {
        return text.to_owned();
    };
    let keep = usize::from(exponent);
    if fraction.len() <= keep || !fraction[keep..].bytes().all(|b| b == b'0') {
        return text.to_owned();
    }
    if keep == 0 {
        whole.to_owned()
    } else {
        format!("{whole}.{}", &fraction[..keep])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").expect("known")
    }

    fn minor(text: &str, notation: Notation) -> Result<i64, String> {
        parse(text, usd(), notation).map(|money| money.amount_minor())
    }

    #[test]
    fn banks_notations_read_exactly() {
        let german = Notation {
            decimal: ',',
            thousands: Some('.'),
        };
        let us = Notation {
            decimal: '.',
            thousands: Some(','),
        };
        assert_eq!(minor("-1.234,56", german), Ok(-123_456));
        assert_eq!(minor("1.234,56-", german), Ok(-123_456));
        assert_eq!(minor("+1,234.56", us), Ok(123_456));
        assert_eq!(minor(" 1000.00000 ", PLAIN), Ok(100_000));
        assert_eq!(minor("0.1", PLAIN), Ok(10));
        assert!(
            minor("1.001", PLAIN).is_err(),
            "a tenth of a cent is not a USD amount"
        );
        assert!(minor("1,5", PLAIN).is_err());
        assert!(minor("", PLAIN).is_err());
        assert!(minor("1e3", PLAIN).is_err());
        assert!(minor("99999999999999999999", PLAIN).is_err());
    }
}
