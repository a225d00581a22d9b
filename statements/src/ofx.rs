//! OFX and QFX statements, 1.x (SGML: leaf elements without end tags) and 2.x (XML), read by
//! one tolerant tag scanner: both are a stream of `<TAG>value` and `</TAG>`, and the elements a
//! statement needs (CURDEF, STMTTRN's DTPOSTED, TRNAMT, FITID, NAME, MEMO, LEDGERBAL's BALAMT)
//! are leaves in both. OFX states the closing balance (LEDGERBAL) but no opening one, so its
//! balances cannot be checked against its lines. The maintained OFX crates either read only
//! one version or lose text around entities, hence this reader.

use crate::amount::{self, Notation, PLAIN};
use crate::{Statement, StatementError, StatementLine, malformed};
use chrono::NaiveDate;
use djinn_domain::{Currency, Money};

/// One element's start or end, with the text after it and its line.
struct Tag {
    name: String,
    end: bool,
    text: String,
    line: usize,
}

/// A transaction being read.
#[derive(Default)]
struct Draft {
    line: usize,
    posted: Option<String>,
    amount: Option<String>,
    fitid: Option<String>,
    name: Option<String>,
    memo: Option<String>,
}

pub fn read(bytes: &[u8]) -> Result<Statement, StatementError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        // OFX 1.x is mostly CHARSET:1252.
        Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0,
    };
    let start = text
        .find("<OFX>")
        .ok_or_else(|| malformed(1, "no <OFX> element"))?;
    let mut currency: Option<String> = None;
    let mut closing: Option<(String, usize)> = None;
    let (mut in_balance, mut statements) = (false, 0);
    let mut draft: Option<Draft> = None;
    let mut drafts = Vec::new();
    for tag in tags(&text, start) {
        let tag = tag?;
        match (tag.name.as_str(), tag.end) {
            ("STMTTRN", false) => {
                drafts.extend(draft.replace(Draft {
                    line: tag.line,
                    ..Draft::default()
                }));
            }
            ("STMTTRN", true) => drafts.extend(draft.take()),
            ("STMTRS" | "CCSTMTRS", false) => statements += 1,
            ("LEDGERBAL", end) => in_balance = !end,
            ("CURDEF", false) => currency = Some(tag.text),
            ("BALAMT", false) if in_balance => closing = Some((tag.text, tag.line)),
            (leaf, false) => {
                if let Some(draft) = draft.as_mut() {
                    draft.fill(leaf, tag.text);
                }
            }
            _ => {}
        }
    }
    drafts.extend(draft);
    if statements > 1 {
        return Err(malformed(
            1,
            "the file holds more than one account's statement",
        ));
    }
    let currency = currency.ok_or_else(|| malformed(1, "no CURDEF: the currency is not stated"))?;
    let currency = Currency::parse(&currency)
        .map_err(|error| malformed(1, format!("CURDEF {currency:?}: {error}")))?;
    let closing = closing
        .map(|(text, line)| money(&text, currency, line))
        .transpose()?;
    let lines = drafts
        .into_iter()
        .map(|draft| draft.line(currency))
        .collect::<Result<_, _>>()?;
    Ok(Statement {
        currency,
        opening: None,
        closing,
        lines,
    })
}

impl Draft {
    fn fill(&mut self, leaf: &str, text: String) {
        let value = Some(text).filter(|v| !v.is_empty());
        match leaf {
            "DTPOSTED" => self.posted = value,
            "TRNAMT" => self.amount = value,
            "FITID" => self.fitid = value,
            "NAME" | "PAYEE" => self.name = value,
            "MEMO" => self.memo = value,
            _ => {}
        }
    }

    fn line(self, currency: Currency) -> Result<StatementLine, StatementError> {
        let line = self.line;
        let missing = |what: &str| malformed(line, format!("a transaction without {what}"));
        let posted = self.posted.ok_or_else(|| missing("DTPOSTED"))?;
        let booked_on = posted
            .get(..8)
            .and_then(|day| NaiveDate::parse_from_str(day, "%Y%m%d").ok())
            .ok_or_else(|| malformed(line, format!("DTPOSTED {posted:?} is not a date")))?;
        let amount = money(
            &self.amount.ok_or_else(|| missing("TRNAMT"))?,
            currency,
            line,
        )?;
        let description = match (self.name, self.memo) {
            (Some(name), Some(memo)) => Some(format!("{name} {memo}")),
            (name, memo) => name.or(memo),
        };
        Ok(StatementLine {
            bank_id: self.fitid.ok_or_else(|| missing("FITID"))?,
            booked_on,
            amount,
            description,
            source_line: line,
        })
    }
}

/// OFX amounts use a point, or (the spec allows it) a comma, as the decimal separator.
fn money(text: &str, currency: Currency, line: usize) -> Result<Money, StatementError> {
    let notation = if text.contains(',') && !text.contains('.') {
        Notation {
            decimal: ',',
            thousands: None,
        }
    } else {
        PLAIN
    };
    amount::parse(text, currency, notation).map_err(|problem| malformed(line, problem))
}

/// The tags of `text` from `start` on, each with its text up to the next tag, entities
/// decoded. Processing instructions and comments are skipped.
fn tags(text: &str, start: usize) -> impl Iterator<Item = Result<Tag, StatementError>> + '_ {
    let mut at = start;
    let mut line = 1 + text[..start].matches('\n').count();
    std::iter::from_fn(move || {
        let open = at + text[at..].find('<')?;
        line += text[at..open].matches('\n').count();
        let Some(close) = text[open..].find('>').map(|i| open + i) else {
            return Some(Err(malformed(line, "a tag is not closed")));
        };
        let inner = &text[open + 1..close];
        let next = text[close + 1..]
            .find('<')
            .map_or(text.len(), |i| close + 1 + i);
        let value = text[close + 1..next].trim();
        let tag_line = line;
        line += text[open..close].matches('\n').count();
        at = close + 1;
        if inner.starts_with('?') || inner.starts_with('!') {
            return Some(Ok(Tag {
                name: String::new(),
                end: true,
                text: String::new(),
                line: tag_line,
            }));
        }
        let (end, name) = match inner.strip_prefix('/') {
            Some(name) => (true, name),
            None => (false, inner),
        };
        let name = name
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        Some(Ok(Tag {
            name,
            end,
            text: decoded(value),
            line: tag_line,
        }))
    })
}

/// `text` with the XML entities decoded; a bare or unknown `&` (OFX 1.x allows it) is kept.
fn decoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let entity = rest.find(';').map(|end| (&rest[1..end], end));
        let decoded = entity.and_then(|(name, end)| {
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => name
                    .strip_prefix("#x")
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}
