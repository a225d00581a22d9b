//! ISO 20022 bank-to-customer statements (CAMT.053): the statement's currency (`Acct/Ccy`), its
//! opening and closing booked balances (`Bal` with `OPBD`, `CLBD`), and its booked entries
//! (`Ntry` with `Sts` BOOK): an amount that is never negative with its credit/debit indicator
//! (`CdtDbtInd`, flipped by a reversal indicator `RvslInd`), the booking date, and the bank's
//! references (`AcctSvcrRef`, else `NtryRef`). Read with quick-xml as a stream of events;
//! element names are matched without their namespace, so `.001.02` and later versions read
//! alike (`Sts` is a code, or holds one in `Cd`).

use crate::amount::{self, PLAIN};
use crate::{LineCounter, Statement, StatementError, StatementLine, malformed};
use chrono::NaiveDate;
use djinn_domain::{Currency, Money};
use quick_xml::Reader;
use quick_xml::events::Event;

/// An entry or a balance being read: the text of its leaves, by path below it.
#[derive(Default)]
struct Draft {
    line: usize,
    fields: Vec<(String, String)>,
}

impl Draft {
    fn get(&self, path: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(at, _)| at == path)
            .map(|(_, text)| text.as_str())
    }
}

/// Where the reader is: the element path, the draft it fills, the text of the current leaf.
#[derive(Default)]
struct State {
    path: Vec<String>,
    /// The depth of the `Ntry` or `Bal` being read, and it.
    draft: Option<(usize, Draft)>,
    text: String,
    currency: Option<String>,
    entries: Vec<Draft>,
    balances: Vec<Draft>,
}

pub fn read(bytes: &[u8]) -> Result<Statement, StatementError> {
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes))
        .map_err(|_| malformed(1, "the file is not UTF-8"))?;
    let mut reader = Reader::from_str(text);
    let mut state = State::default();
    // Errors and elements are met in file order: the lines are counted once, forward.
    let mut lines = LineCounter::default();
    let mut line_at = |position: u64| lines.line_at(text, position);
    loop {
        let position = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|error| malformed(line_at(reader.error_position()), error.to_string()))?;
        match event {
            Event::Start(element) => {
                let name = element.local_name().as_ref().to_owned();
                if let Ok(Some(ccy)) = element.try_get_attribute("Ccy")
                    && let Ok(ccy) = ccy.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                {
                    state.leaf(&format!("{name}@Ccy"), &ccy);
                }
                state.open(name, line_at(position));
            }
            Event::Text(text) => state.text.push_str(&text.xml10_content()),
            Event::CData(data) => state.text.push_str(&data.xml10_content()),
            Event::GeneralRef(entity) => {
                let resolved = match entity.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => quick_xml::escape::resolve_predefined_entity(&entity)
                        .ok_or_else(|| {
                            malformed(line_at(position), format!("unknown entity &{};", &*entity))
                        })?
                        .to_owned(),
                };
                state.text.push_str(&resolved);
            }
            Event::End(_) => state.close(),
            Event::Eof => break,
            _ => {}
        }
    }
    state.statement()
}

impl State {
    fn open(&mut self, name: String, line: usize) {
        self.text.clear();
        let starts = matches!(name.as_str(), "Ntry" | "Bal") && self.draft.is_none();
        self.path.push(name);
        if starts {
            self.draft = Some((
                self.path.len(),
                Draft {
                    line,
                    fields: Vec::new(),
                },
            ));
        }
    }

    /// Records `text` at `name` below the draft (or as the account's currency).
    fn leaf(&mut self, name: &str, text: &str) {
        if let Some((depth, draft)) = self.draft.as_mut()
            && let Some(below) = self.path.get(*depth..)
        {
            let mut path: Vec<&str> = below.iter().map(String::as_str).collect();
            path.push(name);
            draft.fields.push((path.join("/"), text.trim().to_owned()));
        }
    }

    fn close(&mut self) {
        let text = std::mem::take(&mut self.text);
        let depth = self.path.len();
        let Some(name) = self.path.pop() else {
            return;
        };
        if name == "Ccy" && self.path.last().is_some_and(|parent| parent == "Acct") {
            self.currency.get_or_insert(text.trim().to_owned());
        } else if !text.trim().is_empty() {
            self.leaf(&name, &text);
        }
        match self.draft.take() {
            Some((at, draft)) if at == depth => match name.as_str() {
                "Ntry" => self.entries.push(draft),
                _ => self.balances.push(draft),
            },
            open => self.draft = open,
        }
    }

    fn statement(self) -> Result<Statement, StatementError> {
        let stated = self
            .currency
            .or_else(|| {
                self.entries
                    .first()
                    .and_then(|e| e.get("Amt@Ccy"))
                    .map(str::to_owned)
            })
            .ok_or_else(|| malformed(1, "no currency: neither Acct/Ccy nor an amount's Ccy"))?;
        let currency = Currency::parse(&stated)
            .map_err(|error| malformed(1, format!("the currency {stated:?}: {error}")))?;
        let mut opening = None;
        let mut closing = None;
        for balance in &self.balances {
            let amount = signed(balance, currency)?;
            match balance.get("Tp/CdOrPrtry/Cd") {
                Some("OPBD" | "PRCD") => opening = opening.or(Some(amount)),
                Some("CLBD") => closing = Some(amount),
                _ => {}
            }
        }
        let mut lines = Vec::new();
        for entry in &self.entries {
            let status = entry.get("Sts").or_else(|| entry.get("Sts/Cd"));
            if status != Some("BOOK") {
                continue;
            }
            lines.push(line(entry, currency)?);
        }
        Ok(Statement {
            currency,
            opening,
            closing,
            lines,
        })
    }
}

fn line(entry: &Draft, currency: Currency) -> Result<StatementLine, StatementError> {
    let at = entry.line;
    let date = entry
        .get("BookgDt/Dt")
        .or_else(|| entry.get("BookgDt/DtTm"))
        .ok_or_else(|| malformed(at, "a booked entry without BookgDt"))?;
    let booked_on = date
        .get(..10)
        .and_then(|day| NaiveDate::parse_from_str(day, "%Y-%m-%d").ok())
        .ok_or_else(|| malformed(at, format!("BookgDt {date:?} is not a date")))?;
    let mut amount = signed(entry, currency)?;
    if entry.get("RvslInd") == Some("true") {
        amount = Money::from_minor(
            amount
                .amount_minor()
                .checked_neg()
                .ok_or_else(|| malformed(at, "the amount is out of range"))?,
            currency,
        );
    }
    let bank_id = entry
        .get("AcctSvcrRef")
        .or_else(|| entry.get("NtryRef"))
        .ok_or_else(|| malformed(at, "an entry with neither AcctSvcrRef nor NtryRef"))?;
    let description = entry
        .get("AddtlNtryInf")
        .or_else(|| entry.get("NtryDtls/TxDtls/RmtInf/Ustrd"))
        .map(str::to_owned);
    Ok(StatementLine {
        bank_id: bank_id.to_owned(),
        booked_on,
        amount,
        description,
        source_line: at,
    })
}

/// A balance's or an entry's amount, signed by its credit/debit indicator.
fn signed(draft: &Draft, currency: Currency) -> Result<Money, StatementError> {
    let at = draft.line;
    let text = draft.get("Amt").ok_or_else(|| malformed(at, "no Amt"))?;
    if let Some(ccy) = draft.get("Amt@Ccy")
        && ccy != currency.code()
    {
        return Err(malformed(
            at,
            format!("an amount in {ccy} in a {currency} statement"),
        ));
    }
    let amount = amount::parse(text, currency, PLAIN).map_err(|problem| malformed(at, problem))?;
    if amount.amount_minor() < 0 {
        return Err(malformed(
            at,
            "a CAMT amount is never negative: CdtDbtInd gives the sign",
        ));
    }
    match draft.get("CdtDbtInd") {
        Some("CRDT") => Ok(amount),
        Some("DBIT") => Ok(Money::from_minor(-amount.amount_minor(), currency)),
        other => Err(malformed(
            at,
            format!("CdtDbtInd {other:?} is neither CRDT nor DBIT"),
        )),
    }
}
