//! Bank statements and reconciliation: an import of an uploaded statement file and its
//! progress; a reconciliation run with what it found. Both are workflows the API starts; these
//! types read their projections.

use super::entry::LedgerEntry;
use super::ids::{self, NodeType};
use super::money::Money;
use super::recurring::Date;
use super::user_error::UserError;
use super::{internal, state};
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject, Upload};
use chrono::{DateTime, Utc};
use djinn_domain::{Currency, Money as DomainMoney, ReconciliationRunId};
use djinn_store::imports::Import;
use djinn_store::reconciliation::{self, MissingLine, Run};

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum StatementFormat {
    Csv,
    /// OFX or QFX, 1.x (SGML) or 2.x (XML).
    Ofx,
    #[graphql(name = "CAMT053")]
    Camt053,
}

impl StatementFormat {
    pub fn format(self) -> djinn_statements::Format {
        match self {
            StatementFormat::Csv => djinn_statements::Format::Csv,
            StatementFormat::Ofx => djinn_statements::Format::Ofx,
            StatementFormat::Camt053 => djinn_statements::Format::Camt053,
        }
    }
}

#[derive(InputObject)]
pub struct ImportStatementInput {
    pub account_id: ID,
    /// The statement file, as a multipart upload (the GraphQL multipart request spec).
    pub file: Upload,
    /// Absent: detected from the content.
    pub format: Option<StatementFormat>,
    /// For CSV: a built-in profile (`generic`, `de-giro`, `us-debit-credit`) or a custom
    /// mapping as JSON. Absent: `generic`.
    pub csv_profile: Option<String>,
    /// The same key with the same file returns the same import.
    pub idempotency_key: String,
}

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct ImportStatementPayload {
    pub statement_import: Option<StatementImport>,
    pub user_errors: Vec<UserError>,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ImportStatus {
    Running,
    Completed,
    Failed,
}

/// An import of one statement file: its lines are written in batches, and the counts move
/// as they are.
#[derive(Clone, Debug)]
pub struct StatementImport(pub Import);

#[Object]
impl StatementImport {
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::StatementImport, self.0.id)
    }
    async fn status(&self) -> ImportStatus {
        match self.0.status.as_str() {
            "completed" => ImportStatus::Completed,
            "failed" => ImportStatus::Failed,
            _ => ImportStatus::Running,
        }
    }
    async fn account_id(&self) -> ID {
        ids::encode(NodeType::Account, self.0.account_id)
    }
    /// The file's lines (known once the whole file was read, 0 before).
    async fn lines_total(&self) -> i32 {
        self.0.lines_total
    }
    async fn lines_done(&self) -> i32 {
        self.0.lines_done
    }
    /// Lines that cleared an entry made in Djinn (nothing posted for them).
    async fn lines_matched(&self) -> i32 {
        self.0.lines_matched
    }
    /// Lines posted against the external clearing account.
    async fn lines_posted(&self) -> i32 {
        self.0.lines_posted
    }
    /// Why the import failed, as a code (MALFORMED_STATEMENT, STATEMENT_UNBALANCED, ...).
    async fn failure_code(&self) -> Option<&str> {
        self.0.failure_code.as_deref()
    }
    async fn failure_message(&self) -> Option<&str> {
        self.0.failure_message.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(InputObject, Clone, Debug)]
pub struct ReconcileAccountInput {
    pub account_id: ID,
    pub from: Date,
    pub to: Date,
}

#[derive(SimpleObject, Clone, Debug, Default)]
pub struct ReconcileAccountPayload {
    pub reconciliation_run: Option<ReconciliationRun>,
    pub user_errors: Vec<UserError>,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ReconciliationStatus {
    Running,
    Completed,
    Failed,
}

/// A statement line as the bank booked it.
#[derive(SimpleObject, Clone, Debug)]
pub struct StatementLine {
    pub bank_id: Option<String>,
    pub booked_on: Date,
    pub amount: Money,
    pub description: Option<String>,
}

/// An account's statements against its ledger for a period.
#[derive(Clone, Debug)]
pub struct ReconciliationRun(pub Run);

impl ReconciliationRun {
    fn money(&self, minor: Option<i64>) -> Result<Option<Money>> {
        let currency = Currency::parse(&self.0.currency).map_err(internal)?;
        Ok(minor.map(|minor| DomainMoney::from_minor(minor, currency).into()))
    }

    fn run_id(&self) -> ReconciliationRunId {
        ReconciliationRunId::from_uuid(self.0.id)
    }
}

#[Object]
impl ReconciliationRun {
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::ReconciliationRun, self.0.id)
    }
    async fn status(&self) -> ReconciliationStatus {
        match self.0.status.as_str() {
            "completed" => ReconciliationStatus::Completed,
            "failed" => ReconciliationStatus::Failed,
            _ => ReconciliationStatus::Running,
        }
    }
    async fn account_id(&self) -> ID {
        ids::encode(NodeType::Account, self.0.account_id)
    }
    async fn from(&self) -> Date {
        Date(self.0.period_from)
    }
    async fn to(&self) -> Date {
        Date(self.0.period_to)
    }
    /// Lines matched to entries: by bank id, then by amount within a few days.
    async fn matched_count(&self) -> i32 {
        self.0.matched_count
    }
    /// Statement lines with no ledger entry (the first 100; see the count).
    async fn missing_from_ledger(&self, ctx: &Context<'_>) -> Result<Vec<StatementLine>> {
        let (app, user) = state(ctx)?;
        let lines = reconciliation::missing_lines(&app.pool, user, self.run_id())
            .await
            .map_err(internal)?;
        lines.into_iter().map(statement_line).collect()
    }
    async fn missing_from_ledger_count(&self) -> i32 {
        self.0.missing_count
    }
    /// Posted entries of the account in the period that no statement line shows (the first
    /// 100; see the count), such as a transfer the bank never executed.
    async fn unexpected_in_ledger(&self, ctx: &Context<'_>) -> Result<Vec<LedgerEntry>> {
        let (app, user) = state(ctx)?;
        let ids = reconciliation::unexpected_postings(&app.pool, user, self.run_id())
            .await
            .map_err(internal)?;
        let entries = djinn_store::entries::get_many(&app.pool, user, &ids)
            .await
            .map_err(internal)?;
        Ok(entries.into_iter().map(LedgerEntry).collect())
    }
    async fn unexpected_in_ledger_count(&self) -> i32 {
        self.0.unexpected_count
    }
    /// The statement's closing balance minus the ledger's balance on the same day; null when
    /// no statement of the period states a closing balance.
    async fn closing_difference(&self) -> Result<Option<Money>> {
        let difference = match (self.0.statement_closing_minor, self.0.ledger_closing_minor) {
            (Some(statement), Some(ledger)) => Some(
                statement
                    .checked_sub(ledger)
                    .ok_or_else(|| internal("the closing difference is out of range"))?,
            ),
            _ => None,
        };
        self.money(difference)
    }
    async fn statement_closing_balance(&self) -> Result<Option<Money>> {
        self.money(self.0.statement_closing_minor)
    }
    async fn ledger_closing_balance(&self) -> Result<Option<Money>> {
        self.money(self.0.ledger_closing_minor)
    }
    /// The day of the closing balances compared.
    async fn closing_on(&self) -> Option<Date> {
        self.0.closing_on.map(Date)
    }
    async fn failure_message(&self) -> Option<&str> {
        self.0.failure_message.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

fn statement_line(line: MissingLine) -> Result<StatementLine> {
    let currency = Currency::parse(&line.currency).map_err(internal)?;
    Ok(StatementLine {
        bank_id: Some(line.bank_id),
        booked_on: Date(line.booked_on),
        amount: DomainMoney::from_minor(line.amount_minor, currency).into(),
        description: line.description,
    })
}
