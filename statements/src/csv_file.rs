//! CSV statements, read with a bank profile. A CSV export states no currency and no balances:
//! its lines are in the account's currency. The bank gives no id for a row, so a row's id is a
//! hash of its date, amount and description with its position among identical rows of the
//! same day: re-importing the same rows, or an overlapping export, gives the same ids.

use crate::csv_profile::{AmountColumns, CsvProfile, Encoding};
use crate::{LineCounter, Statement, StatementError, StatementLine, amount, malformed};
use chrono::NaiveDate;
use chrono::format::{Item, Parsed, StrftimeItems};
use djinn_domain::{Currency, Money};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt::Write;

pub fn read(
    bytes: &[u8],
    profile: &CsvProfile,
    currency: Currency,
) -> Result<Statement, StatementError> {
    let mut lines = Vec::new();
    each_line(bytes, profile, currency, RowIds::Made, &mut |line| {
        lines.push(line);
    })?;
    Ok(Statement {
        currency,
        opening: None,
        closing: None,
        lines,
    })
}

/// Whether a row without the bank's id is given its own (a hash of the row and its place among
/// identical rows): two thirds of reading a row, which a check of the file does without.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowIds {
    Made,
    /// The line's `bank_id` is the bank's, or empty.
    Skipped,
}

/// Reads the file's lines into `sink`, one at a time, so a large file never has all its lines
/// in memory: what is kept across rows is the count of each (day, amount, description) seen,
/// by a 16-byte digest.
pub fn each_line(
    bytes: &[u8],
    profile: &CsvProfile,
    currency: Currency,
    ids: RowIds,
    sink: &mut dyn FnMut(StatementLine),
) -> Result<(), StatementError> {
    let text = decode(bytes, profile.encoding)?;
    let delimiter = u8::try_from(profile.delimiter)
        .map_err(|_| malformed(1, "the delimiter is not one ASCII character"))?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|error| malformed(1, error.to_string()))?
        .clone();
    let columns = Columns::find(&headers, profile)?;
    // The date format read once, not once per row; one record and one digest buffer reused.
    let date_format: Vec<Item<'_>> = StrftimeItems::new(&profile.date_format).collect();
    let mut seen: HashMap<[u8; 16], usize> = HashMap::new();
    let mut counter = LineCounter::default();
    let mut record = csv::StringRecord::new();
    let mut digested = String::new();
    loop {
        let more = reader.read_record(&mut record).map_err(|error| {
            let at = error.position().map_or(0, csv::Position::byte);
            malformed(counter.line_at(&text, at), error.to_string())
        })?;
        if !more {
            break;
        }
        let line = counter.line_at(&text, record.position().map_or(0, csv::Position::byte));
        if record.iter().all(|field| field.trim().is_empty()) {
            continue;
        }
        let row = columns.read(&record, profile, &date_format, currency, line)?;
        let bank_id = match (row.3, ids) {
            (Some(id), _) => id,
            (None, RowIds::Skipped) => String::new(),
            (None, RowIds::Made) => {
                let digest = row_digest(&mut digested, row.0, row.1, row.2.as_deref());
                let occurrence = seen
                    .entry(digest[..16].try_into().unwrap_or_default())
                    .or_default();
                *occurrence += 1;
                row_id(&digest, *occurrence)
            }
        };
        sink(StatementLine {
            bank_id,
            booked_on: row.0,
            amount: row.1,
            description: row.2,
            source_line: line,
        });
    }
    Ok(())
}

/// The text of the file in its character set, without a byte-order mark.
fn decode(bytes: &[u8], encoding: Encoding) -> Result<String, StatementError> {
    match encoding {
        Encoding::Windows1252 => {
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
            Ok(text.trim_start_matches('\u{feff}').to_owned())
        }
        Encoding::Utf8 => {
            let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
            std::str::from_utf8(bytes)
                .map(str::to_owned)
                .map_err(|error| {
                    let line = 1 + bytes[..error.valid_up_to()]
                        .iter()
                        .filter(|b| **b == b'\n')
                        .count();
                    malformed(line, "the file is not UTF-8, as its profile says")
                })
        }
    }
}

/// The digest of a row's day, amount and description: what identical rows share. The text
/// hashed is "{day}|{minor units}|{description}", written into `buffer`; it is the rows'
/// identity, and must never change (statements/tests/formats.rs pins it).
fn row_digest(
    buffer: &mut String,
    date: NaiveDate,
    amount: Money,
    description: Option<&str>,
) -> [u8; 32] {
    buffer.clear();
    // Writing into a String cannot fail.
    let _ = write!(
        buffer,
        "{date}|{}|{}",
        amount.amount_minor(),
        description.unwrap_or("")
    );
    Sha256::digest(buffer.as_bytes()).into()
}

/// A row's id when the bank gives none: its digest and its place among identical rows.
fn row_id(digest: &[u8; 32], occurrence: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(4 + 24 + 1 + 20);
    id.push_str("csv:");
    for byte in &digest[..12] {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    let _ = write!(id, "#{occurrence}");
    id
}

/// The positions of the profile's columns in this file's header.
struct Columns {
    date: usize,
    amount: (usize, Option<usize>),
    description: Option<usize>,
    id: Option<usize>,
}

type Row = (NaiveDate, Money, Option<String>, Option<String>);

impl Columns {
    fn find(headers: &csv::StringRecord, profile: &CsvProfile) -> Result<Self, StatementError> {
        let position = |name: &str| {
            headers
                .iter()
                .position(|header| header.trim() == name)
                .ok_or_else(|| malformed(1, format!("the header has no column {name:?}")))
        };
        let optional = |name: &Option<String>| name.as_deref().map(position).transpose();
        let amount = match &profile.amount {
            AmountColumns::Signed { column, .. } => (position(column)?, None),
            AmountColumns::DebitCredit { debit, credit } => {
                (position(debit)?, Some(position(credit)?))
            }
        };
        Ok(Self {
            date: position(&profile.date_column)?,
            amount,
            description: optional(&profile.description_column)?,
            id: optional(&profile.id_column)?,
        })
    }

    fn read(
        &self,
        record: &csv::StringRecord,
        profile: &CsvProfile,
        date_format: &[Item<'_>],
        currency: Currency,
        line: usize,
    ) -> Result<Row, StatementError> {
        let field = |at: usize| record.get(at).map(str::trim).unwrap_or("");
        let day = |text: &str| {
            let mut parsed = Parsed::new();
            chrono::format::parse(&mut parsed, text, date_format.iter())
                .and_then(|()| parsed.to_naive_date())
        };
        let date = day(field(self.date)).map_err(|_| {
            malformed(
                line,
                format!(
                    "the date {:?} is not {}",
                    field(self.date),
                    profile.date_format
                ),
            )
        })?;
        let money = |text: &str| {
            amount::parse(text, currency, profile.notation())
                .map_err(|problem| malformed(line, problem))
        };
        let amount = match (&profile.amount, self.amount) {
            (AmountColumns::Signed { negate, .. }, (at, _)) => {
                let amount = money(field(at))?;
                if *negate {
                    negated(amount, line)?
                } else {
                    amount
                }
            }
            (AmountColumns::DebitCredit { .. }, (debit, Some(credit))) => {
                match (field(debit), field(credit)) {
                    ("", "") => return Err(malformed(line, "neither a debit nor a credit")),
                    (out, "") => negated(absolute(money(out)?, line)?, line)?,
                    ("", into) => absolute(money(into)?, line)?,
                    _ => return Err(malformed(line, "both a debit and a credit")),
                }
            }
            _ => {
                return Err(malformed(
                    line,
                    "the profile's amount columns are incomplete",
                ));
            }
        };
        let text = |at: Option<usize>| at.map(field).filter(|s| !s.is_empty()).map(str::to_owned);
        Ok((date, amount, text(self.description), text(self.id)))
    }
}

fn negated(amount: Money, line: usize) -> Result<Money, StatementError> {
    amount
        .amount_minor()
        .checked_neg()
        .map(|minor| Money::from_minor(minor, amount.currency()))
        .ok_or_else(|| malformed(line, "the amount is out of range"))
}

fn absolute(amount: Money, line: usize) -> Result<Money, StatementError> {
    if amount.amount_minor() < 0 {
        negated(amount, line)
    } else {
        Ok(amount)
    }
}
