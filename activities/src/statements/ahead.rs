//! Writing an import's batches with one sent ahead. While PostgreSQL writes a batch, the next
//! one is already sent and waits there for the import's row lock: the worker builds it and the
//! database reads its lines (the arrays of its bind) while the batch before it is written, not
//! between the two. The batches still commit one at a time and in order, as
//! `ledger_import_batch_for` writes only the batch that follows the last one written.

use djinn_domain::{StatementImportId, UserId};
use djinn_ledger::StoreError;
use djinn_ledger::import::{self, Written};
use djinn_statements::StatementLine;
use sqlx::PgPool;
use tokio::task::JoinHandle;

/// A batch on its way: where it starts, and its write, which hands its lines back.
struct Sent {
    first: i32,
    write: JoinHandle<(Vec<StatementLine>, Result<Written, StoreError>)>,
}

/// An import's writer, holding at most one batch sent ahead of the one being written.
pub struct Writer {
    pool: PgPool,
    user: UserId,
    import: StatementImportId,
    ahead: Option<Sent>,
}

impl Writer {
    pub fn new(pool: PgPool, user: UserId, import: StatementImportId) -> Self {
        Self {
            pool,
            user,
            import,
            ahead: None,
        }
    }

    /// Sends `lines`, the batch that starts at line `first`, and answers what writing the batch
    /// sent before it found (nothing for the first batch).
    pub async fn send(
        &mut self,
        first: i32,
        lines: Vec<StatementLine>,
    ) -> Option<Result<Written, StoreError>> {
        let (pool, user, import) = (self.pool.clone(), self.user, self.import);
        let write = tokio::spawn(async move {
            let written = import::write_lines(&pool, user, import, first, &lines).await;
            (lines, written)
        });
        let before = self.ahead.replace(Sent { first, write })?;
        Some(self.settle(before).await)
    }

    /// What writing the last batch sent found; nothing once every batch sent has answered.
    pub async fn finish(&mut self) -> Option<Result<Written, StoreError>> {
        let last = self.ahead.take()?;
        Some(self.settle(last).await)
    }

    /// The write of a batch whose predecessors have all answered. A write that failed other
    /// than by a refusal may have run before the batch it follows was written (and found lines
    /// missing), or waited too long for it: the batch is written again, now in its turn.
    async fn settle(&self, sent: Sent) -> Result<Written, StoreError> {
        // A write that panicked or was cancelled took its lines with it: the activity fails
        // and is retried, resuming after the last batch written.
        let (lines, written) = sent
            .write
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::WorkerCrashed))?;
        match written {
            Ok(_) | Err(StoreError::Rejected(_)) => written,
            Err(_) => {
                import::write_lines(&self.pool, self.user, self.import, sent.first, &lines).await
            }
        }
    }
}
