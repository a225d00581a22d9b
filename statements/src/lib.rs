//! Bank statements read into lines, exactly: a statement file (CSV with a bank profile, OFX 1.x
//! or 2.x, CAMT.053) becomes its currency, its opening and closing balances when it states
//! them, and its booked lines, each with the bank's id for it (or, for CSV, a stable one), its
//! booking date, its signed amount in minor units and its description. No amount is ever a
//! float: every amount is parsed from its decimal text (`amount`). A malformed file is an error
//! naming the line and the problem; nothing here panics on any input (`tests/fuzz.rs`).
//!
//! This crate reads bytes only: where the file comes from and where the lines go (the import
//! workflow, the ledger) are other crates' business.

mod amount;
mod camt;
mod csv_file;
pub mod csv_profile;
mod ofx;

pub use csv_profile::CsvProfile;

use chrono::NaiveDate;
use csv_file::RowIds;
use djinn_domain::{Currency, Money};

/// A statement's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ofx,
    Camt053,
}

impl Format {
    /// The format's name as stored: `csv`, `ofx`, `camt053`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ofx => "ofx",
            Format::Camt053 => "camt053",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "csv" => Some(Format::Csv),
            "ofx" => Some(Format::Ofx),
            "camt053" => Some(Format::Camt053),
            _ => None,
        }
    }
}

/// One booked line of a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementLine {
    /// The bank's id for the line (OFX FITID, CAMT AcctSvcrRef or NtryRef), or for CSV a hash
    /// of the row with its position among identical rows of the same day.
    pub bank_id: String,
    pub booked_on: NaiveDate,
    /// Signed: money in is positive, money out negative.
    pub amount: Money,
    pub description: Option<String>,
    /// Where the line is in the file (1-based), for errors and for people.
    pub source_line: usize,
}

/// A statement as the file states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub currency: Currency,
    pub opening: Option<Money>,
    pub closing: Option<Money>,
    pub lines: Vec<StatementLine>,
}

/// Why a file was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// MALFORMED_STATEMENT: the file cannot be read as its format.
    #[error("line {line}: {problem}")]
    Malformed { line: usize, problem: String },
    /// STATEMENT_UNBALANCED: opening + lines != closing.
    #[error(
        "the statement does not add up: opening {opening} + lines {lines} != closing {closing}"
    )]
    Unbalanced {
        opening: String,
        lines: String,
        closing: String,
    },
    /// CURRENCY_MISMATCH: the file is in another currency than the account.
    #[error("the statement is in {found}, the account in {expected}")]
    CurrencyMismatch { found: Currency, expected: Currency },
}

impl StatementError {
    /// The refusal's stable code, as the API and the import show it.
    pub fn code(&self) -> &'static str {
        match self {
            StatementError::Malformed { .. } => "MALFORMED_STATEMENT",
            StatementError::Unbalanced { .. } => "STATEMENT_UNBALANCED",
            StatementError::CurrencyMismatch { .. } => "CURRENCY_MISMATCH",
        }
    }
}

/// The line of a byte offset, counted forward from the last one asked, so a whole file is
/// counted once (csv's own line numbers are off by one after a CRLF). Line breaks at the offset
/// are skipped: after a CRLF, csv places a record at its '\n'.
#[derive(Default)]
pub(crate) struct LineCounter {
    byte: usize,
    line: usize,
}

impl LineCounter {
    pub(crate) fn line_at(&mut self, text: &str, byte: u64) -> usize {
        let mut byte = usize::try_from(byte).unwrap_or(usize::MAX).min(text.len());
        while matches!(text.as_bytes().get(byte), Some(b'\r' | b'\n')) {
            byte += 1;
        }
        if byte < self.byte {
            *self = Self::default();
        }
        self.line += text.as_bytes()[self.byte..byte]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.byte = byte;
        self.line + 1
    }
}

pub(crate) fn malformed(line: usize, problem: impl Into<String>) -> StatementError {
    StatementError::Malformed {
        line,
        problem: problem.into(),
    }
}

/// The format of `bytes`, from their content: CAMT.053 and OFX 2.x are XML with their own root
/// or processing instruction, OFX 1.x starts with its SGML header, anything else is CSV.
pub fn detect(bytes: &[u8]) -> Format {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    if head.contains("camt.053") || head.contains("<BkToCstmrStmt") {
        Format::Camt053
    } else if head.contains("OFXHEADER") || head.contains("<OFX>") {
        Format::Ofx
    } else {
        Format::Csv
    }
}

/// Reads a statement of an account in `currency`. `profile` says how to read a CSV file (its
/// columns, date format, separators, encoding); the other formats say it themselves. A file in
/// another currency than `currency`, or whose balances do not add up, is refused whole.
pub fn read(
    bytes: &[u8],
    format: Format,
    profile: &CsvProfile,
    currency: Currency,
) -> Result<Statement, StatementError> {
    let statement = match format {
        Format::Csv => csv_file::read(bytes, profile, currency)?,
        Format::Ofx => ofx::read(bytes)?,
        Format::Camt053 => camt::read(bytes)?,
    };
    if statement.currency != currency {
        return Err(StatementError::CurrencyMismatch {
            found: statement.currency,
            expected: currency,
        });
    }
    statement.check_balanced()?;
    Ok(statement)
}

/// What a statement states besides its lines, and how many it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub currency: Currency,
    pub opening: Option<Money>,
    pub closing: Option<Money>,
    pub lines: usize,
    /// The last day a line was booked on: the day of the closing balance.
    pub last_booked_on: Option<NaiveDate>,
}

/// Reads a statement as [`read`] does, handing each line to `sink` as it is read. A CSV file's
/// lines are never all in memory at once; OFX and CAMT files, which may state their balances
/// after their lines, are read whole first. `sink` may see lines of a file that turns out
/// malformed further on: only an `Ok` answer says the lines it saw are the statement.
pub fn read_each(
    bytes: &[u8],
    format: Format,
    profile: &CsvProfile,
    currency: Currency,
    sink: &mut dyn FnMut(StatementLine),
) -> Result<Summary, StatementError> {
    summarize(bytes, format, profile, currency, RowIds::Made, sink)
}

/// Reads a statement whole as [`read_each`] does, for whether it is sound and what it states,
/// without making the ids of CSV rows that have none: a row's id (a hash of the row, counted
/// among identical rows) is two thirds of reading a row, and a check of the file before it is
/// kept needs none. What it refuses, and the summary it answers, are `read_each`'s.
pub fn check(
    bytes: &[u8],
    format: Format,
    profile: &CsvProfile,
    currency: Currency,
) -> Result<Summary, StatementError> {
    summarize(
        bytes,
        format,
        profile,
        currency,
        RowIds::Skipped,
        &mut |_| {},
    )
}

fn summarize(
    bytes: &[u8],
    format: Format,
    profile: &CsvProfile,
    currency: Currency,
    ids: RowIds,
    sink: &mut dyn FnMut(StatementLine),
) -> Result<Summary, StatementError> {
    let mut summary = Summary {
        currency,
        opening: None,
        closing: None,
        lines: 0,
        last_booked_on: None,
    };
    let mut count = |line: StatementLine, summary: &mut Summary| {
        summary.lines += 1;
        summary.last_booked_on = summary.last_booked_on.max(Some(line.booked_on));
        sink(line);
    };
    if format == Format::Csv {
        csv_file::each_line(bytes, profile, currency, ids, &mut |line| {
            count(line, &mut summary);
        })?;
        return Ok(summary);
    }
    let statement = read(bytes, format, profile, currency)?;
    summary.opening = statement.opening;
    summary.closing = statement.closing;
    for line in statement.lines {
        count(line, &mut summary);
    }
    Ok(summary)
}

impl Statement {
    /// The sum of the lines, checked: `None` when it leaves the range of minor units.
    pub fn lines_total(&self) -> Option<i64> {
        self.lines.iter().try_fold(0_i64, |sum, line| {
            sum.checked_add(line.amount.amount_minor())
        })
    }

    /// When the file states both balances: opening + lines = closing, exactly.
    pub fn check_balanced(&self) -> Result<(), StatementError> {
        let (Some(opening), Some(closing)) = (self.opening, self.closing) else {
            return Ok(());
        };
        let lines = self.lines_total();
        let reached = lines.and_then(|lines| opening.amount_minor().checked_add(lines));
        if reached == Some(closing.amount_minor()) {
            return Ok(());
        }
        Err(StatementError::Unbalanced {
            opening: opening.to_decimal_string(),
            lines: lines.map_or("out of range".to_owned(), |minor| {
                Money::from_minor(minor, self.currency).to_decimal_string()
            }),
            closing: closing.to_decimal_string(),
        })
    }
}
