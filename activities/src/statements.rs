//! The statement import's activities: the whole read of a file before anything is written
//! (`check_import`, skipped when whoever registered the import read it whole), then the
//! writing of its lines in batches of [`IMPORT_BATCH_LINES`], one database transaction each,
//! heartbeating the progress (`write_import`), with one batch sent ahead (`ahead`). The parser
//! runs on a blocking thread and hands batches over a channel of two, so the worker holds the
//! file and at most five batches of lines, whatever the file's length.

mod ahead;

use crate::failure;
use ahead::Writer;
use djinn_ledger::StoreError;
use djinn_ledger::import::{Progress, Written};
use djinn_statements::{CsvProfile, Format, StatementError, StatementLine, Summary};
use djinn_store::imports::{self, Checked, File, Import};
use djinn_workflows::contracts::{FinishImportInput, ImportInput, ImportOutcome, markers};
use sqlx::PgPool;
use std::sync::Arc;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tokio::sync::mpsc;

/// How many lines one database transaction of an import writes: large enough that a million
/// lines take a hundred transactions, small enough that a batch holds the account's balance row
/// for a fraction of a second and stays far inside the statement timeout.
pub const IMPORT_BATCH_LINES: usize = 10_000;

#[derive(Debug, Clone)]
pub struct StatementActivities {
    pool: PgPool,
}

impl StatementActivities {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    async fn file(&self, input: ImportInput) -> Result<File, ActivityError> {
        imports::file(&self.pool, input.user_id, input.import_id)
            .await
            .map_err(store_failure)?
            .ok_or_else(|| failure("no such import", true))
    }

    async fn refuse(
        &self,
        input: ImportInput,
        code: &str,
        message: &str,
    ) -> Result<ImportOutcome, ActivityError> {
        imports::finish(
            &self.pool,
            input.user_id,
            input.import_id,
            Some((code, message)),
        )
        .await
        .map_err(store_failure)?;
        Ok(outcome(Some(code), 0, None))
    }
}

#[temporalio_macros::activities]
impl StatementActivities {
    #[activity(definition = markers::CheckImport)]
    pub async fn check_import(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ImportInput,
    ) -> Result<ImportOutcome, ActivityError> {
        let import = imports::get(&self.pool, input.user_id, input.import_id)
            .await
            .map_err(store_failure)?
            .ok_or_else(|| failure("no such import", true))?;
        if import.status != "running" {
            return Ok(ended(&import));
        }
        // Read whole when it was registered, by the same parser: not read again.
        if import.checked_at.is_some() {
            return Ok(outcome(None, import.lines_total, None));
        }
        let file = self.file(input).await?;
        let read = tokio::task::spawn_blocking(move || {
            let (format, profile) = how_to_read(&file)?;
            djinn_statements::check(&file.content, format, &profile, file.currency)
        })
        .await
        .map_err(|error| failure(&error.to_string(), false))?;
        let summary = match read {
            Ok(summary) => summary,
            Err(refusal) => {
                return self
                    .refuse(input, refusal.code(), &refusal.to_string())
                    .await;
            }
        };
        let checked = Checked::new(
            summary.lines,
            summary.opening,
            summary.closing,
            summary.last_booked_on,
        )
        .ok_or_else(|| failure("the file has too many lines", true))?;
        imports::record_checked(&self.pool, input.user_id, input.import_id, checked)
            .await
            .map_err(store_failure)?;
        Ok(outcome(None, checked.lines_total, None))
    }

    #[activity(definition = markers::WriteImport)]
    pub async fn write_import(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ImportInput,
    ) -> Result<ImportOutcome, ActivityError> {
        let file = self.file(input).await?;
        if file.import.status != "running" {
            return Ok(ended(&file.import));
        }
        let total = file.import.lines_total;
        let mut first = file.import.lines_done;
        let (batches, mut received) = mpsc::channel(2);
        let parser = tokio::task::spawn_blocking(move || parse_from(&file, first, &batches));
        let mut writer = Writer::new(self.pool.clone(), input.user_id, input.import_id);
        let mut progress = None;
        loop {
            let answered = match received.recv().await {
                Some(batch) => {
                    let lines = i32::try_from(batch.len()).unwrap_or(i32::MAX);
                    let answered = writer.send(first, batch).await;
                    first += lines;
                    answered
                }
                None => match writer.finish().await {
                    Some(last) => Some(last),
                    None => break,
                },
            };
            let Some(written) = answered else { continue };
            let now = match written {
                Ok(Written::Now(now) | Written::Already(now)) => now,
                Ok(Written::NotRunning(now)) => return Ok(outcome(None, total, Some(now))),
                Err(StoreError::Rejected(rejection)) => {
                    return self
                        .refuse(input, rejection.code.as_str(), &rejection.message)
                        .await;
                }
                Err(error) => return Err(store_failure(error)),
            };
            progress = Some(now);
            // Progress for the Temporal UI; the database holds the cursor a retry resumes from.
            let _ = ctx.record_heartbeat(now.lines_done).await;
            if ctx.is_cancelled() {
                return Err(failure("the import was cancelled", false));
            }
        }
        match parser.await {
            Ok(Ok(_)) => {}
            Ok(Err(refusal)) => {
                return self
                    .refuse(input, refusal.code(), &refusal.to_string())
                    .await;
            }
            Err(error) => return Err(failure(&error.to_string(), false)),
        }
        imports::finish(&self.pool, input.user_id, input.import_id, None)
            .await
            .map_err(store_failure)?;
        Ok(outcome(None, total, progress))
    }

    #[activity(definition = markers::FinishImport)]
    pub async fn finish_import(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: FinishImportInput,
    ) -> Result<(), ActivityError> {
        let failure_of = input
            .failure_code
            .as_deref()
            .map(|code| (code, input.failure_message.as_deref().unwrap_or(code)));
        imports::finish(
            &self.pool,
            input.import.user_id,
            input.import.import_id,
            failure_of,
        )
        .await
        .map_err(store_failure)
    }
}

/// Reads the file's lines after the first `skip`, sending them in batches.
fn parse_from(
    file: &File,
    skip: i32,
    batches: &mpsc::Sender<Vec<StatementLine>>,
) -> Result<Summary, StatementError> {
    let (format, profile) = how_to_read(file)?;
    let skip = usize::try_from(skip).unwrap_or(0);
    let mut seen = 0_usize;
    let mut batch = Vec::with_capacity(IMPORT_BATCH_LINES);
    let summary = djinn_statements::read_each(
        &file.content,
        format,
        &profile,
        file.currency,
        &mut |line| {
            seen += 1;
            if seen <= skip {
                return;
            }
            batch.push(line);
            if batch.len() == IMPORT_BATCH_LINES {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(IMPORT_BATCH_LINES));
                // A closed channel: the writer stopped; the rest is read and dropped.
                let _ = batches.blocking_send(full);
            }
        },
    )?;
    if !batch.is_empty() {
        let _ = batches.blocking_send(batch);
    }
    Ok(summary)
}

/// The import's format and CSV profile, as registered.
fn how_to_read(file: &File) -> Result<(Format, CsvProfile), StatementError> {
    let unreadable = |problem: String| StatementError::Malformed { line: 1, problem };
    let format = Format::parse(&file.import.format)
        .ok_or_else(|| unreadable(format!("unknown format {}", file.import.format)))?;
    let profile = match &file.import.csv_profile {
        Some(json) => CsvProfile::from_json(json).map_err(unreadable)?,
        None => CsvProfile::built_in("generic").ok_or_else(|| unreadable("no profile".into()))?,
    };
    Ok((format, profile))
}

/// The outcome of an import that ended before this attempt.
fn ended(import: &Import) -> ImportOutcome {
    outcome(
        import.failure_code.as_deref(),
        import.lines_total,
        Some(Progress {
            lines_done: import.lines_done,
            lines_matched: import.lines_matched,
            lines_posted: import.lines_posted,
        }),
    )
}

fn outcome(code: Option<&str>, total: i32, progress: Option<Progress>) -> ImportOutcome {
    let count = |n: i32| u32::try_from(n).unwrap_or(0);
    ImportOutcome {
        failure_code: code.map(str::to_owned),
        lines_total: count(total),
        lines_matched: progress.map_or(0, |p| count(p.lines_matched)),
        lines_posted: progress.map_or(0, |p| count(p.lines_posted)),
    }
}

fn store_failure(error: StoreError) -> ActivityError {
    let permanent = !matches!(error, StoreError::Database(_));
    tracing::warn!(%error, "a statement import step failed");
    failure(&error.to_string(), permanent)
}
