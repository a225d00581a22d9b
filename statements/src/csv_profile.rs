//! How to read a bank's CSV export: which columns hold the date, the amount (signed, or a debit
//! and a credit column), the description and the bank's id; the date format; the decimal and
//! thousands separators; the delimiter; the character set. Two banks' profiles are built in;
//! any other is given with the upload as JSON (`CsvProfile::from_json`).

use crate::amount::Notation;
use serde::{Deserialize, Serialize};

/// Where the amount is.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AmountColumns {
    /// One signed column; `negate` when the bank writes money out as positive.
    Signed {
        column: String,
        #[serde(default)]
        negate: bool,
    },
    /// Money out in one column, money in in another (either may be empty on a row).
    DebitCredit { debit: String, credit: String },
}

/// The character set of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    Utf8,
    Windows1252,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CsvProfile {
    #[serde(default = "comma")]
    pub delimiter: char,
    pub date_column: String,
    /// A chrono format, such as `%Y-%m-%d` or `%d.%m.%Y`.
    pub date_format: String,
    pub amount: AmountColumns,
    #[serde(default)]
    pub description_column: Option<String>,
    /// A column holding the bank's own id for the row, when the export has one.
    #[serde(default)]
    pub id_column: Option<String>,
    #[serde(default = "point")]
    pub decimal_separator: char,
    #[serde(default)]
    pub thousands_separator: Option<char>,
    #[serde(default = "utf8")]
    pub encoding: Encoding,
}

fn comma() -> char {
    ','
}
fn point() -> char {
    '.'
}
fn utf8() -> Encoding {
    Encoding::Utf8
}

impl CsvProfile {
    /// A built-in profile by name: `generic` (Date, Description, Amount; ISO dates), `de-giro`
    /// (a German giro account: semicolons, `dd.mm.yyyy`, decimal comma, Windows-1252) or
    /// `us-debit-credit` (separate Debit and Credit columns, `mm/dd/yyyy`, thousands commas).
    pub fn built_in(name: &str) -> Option<Self> {
        let column = |name: &str| name.to_owned();
        Some(match name {
            "generic" => Self {
                delimiter: ',',
                date_column: column("Date"),
                date_format: "%Y-%m-%d".to_owned(),
                amount: AmountColumns::Signed {
                    column: column("Amount"),
                    negate: false,
                },
                description_column: Some(column("Description")),
                id_column: None,
                decimal_separator: '.',
                thousands_separator: None,
                encoding: Encoding::Utf8,
            },
            "de-giro" => Self {
                delimiter: ';',
                date_column: column("Buchungstag"),
                date_format: "%d.%m.%Y".to_owned(),
                amount: AmountColumns::Signed {
                    column: column("Betrag"),
                    negate: false,
                },
                description_column: Some(column("Verwendungszweck")),
                id_column: None,
                decimal_separator: ',',
                thousands_separator: Some('.'),
                encoding: Encoding::Windows1252,
            },
            "us-debit-credit" => Self {
                delimiter: ',',
                date_column: column("Date"),
                date_format: "%m/%d/%Y".to_owned(),
                amount: AmountColumns::DebitCredit {
                    debit: column("Debit"),
                    credit: column("Credit"),
                },
                description_column: Some(column("Description")),
                id_column: None,
                decimal_separator: '.',
                thousands_separator: Some(','),
                encoding: Encoding::Utf8,
            },
            _ => return None,
        })
    }

    /// A custom profile, as JSON (the fields above, snake_case).
    pub fn from_json(json: &str) -> Result<Self, String> {
        let profile: Self =
            serde_json::from_str(json).map_err(|error| format!("the CSV profile: {error}"))?;
        if !profile.delimiter.is_ascii() || profile.delimiter == '"' {
            return Err("the CSV profile: the delimiter must be one ASCII character".to_owned());
        }
        Ok(profile)
    }

    /// A profile as the upload names it: a built-in profile's name, or a custom one as JSON.
    pub fn named_or_json(given: &str) -> Result<Self, String> {
        let given = given.trim();
        if given.starts_with('{') {
            return Self::from_json(given);
        }
        Self::built_in(given).ok_or_else(|| {
            format!(
                "no CSV profile {given:?}: use generic, de-giro, us-debit-credit or a JSON mapping"
            )
        })
    }

    /// The profile as JSON, as `from_json` reads it back.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub(crate) fn notation(&self) -> Notation {
        Notation {
            decimal: self.decimal_separator,
            thousands: self.thousands_separator,
        }
    }
}
