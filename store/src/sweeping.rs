//! The operations nothing has moved on for a while, across users: what the worker's sweeper
//! looks at (`djinn_activities::sweeper`), read through `operations_overdue`
//! (migrations/..._overdue_operations.sql, paged since ..._review_lock_order_and_sweep_cursor.sql),
//! which returns ids only; and the imports and reconciliation runs still RUNNING, through
//! `long_runs_overdue` (migrations/..._overdue_long_runs.sql).

use crate::StoreError;
use crate::operations::OperationKind;
use crate::sql;
use chrono::{DateTime, Utc};
use djinn_domain::{OperationId, ReconciliationRunId, StatementImportId, UserId};
use sqlx::PgPool;
use std::time::Duration;

/// An operation still pending, untouched for a while.
#[derive(Clone, Debug)]
pub struct Overdue {
    pub id: OperationId,
    pub user_id: UserId,
    pub kind: OperationKind,
    pub workflow_id: String,
    pub updated_at: DateTime<Utc>,
}

/// At most `limit` operations still pending and untouched for `quiet_for`, oldest first, after
/// `after` (the last one of the previous page), so that a sweep walks past the ones it leaves.
#[tracing::instrument(skip_all)]
pub async fn overdue(
    pool: &PgPool,
    quiet_for: Duration,
    after: Option<&Overdue>,
    limit: i64,
) -> Result<Vec<Overdue>, StoreError> {
    let quiet_for_ms = i64::try_from(quiet_for.as_millis()).unwrap_or(i64::MAX);
    let mut tx = pool.begin().await?;
    let rows: Vec<(uuid::Uuid, uuid::Uuid, String, String, DateTime<Utc>)> = sql::query_as(
        "SELECT id, user_id, kind, workflow_id, updated_at
           FROM operations_overdue(make_interval(secs => $1::double precision / 1000),
                                   $2, $3, $4::integer)",
    )
    .bind(quiet_for_ms)
    .bind(after.map(|last| last.updated_at))
    .bind(after.map(|last| last.id.as_uuid()))
    .bind(limit.clamp(0, crate::PAGE_SIZE_MAX))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.into_iter()
        .map(|(id, user_id, kind, workflow_id, updated_at)| {
            Ok(Overdue {
                id: OperationId::from_uuid(id),
                user_id: UserId::from_uuid(user_id),
                kind: OperationKind::parse(&kind)?,
                workflow_id,
                updated_at,
            })
        })
        .collect()
}

/// Which long run an overdue row is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LongRunKind {
    /// A statement import, and its workflow's id.
    Import {
        import: StatementImportId,
        workflow_id: String,
    },
    /// A reconciliation run, and whether the nightly schedule's run registered it (and so
    /// starts it, a bounded number at a time).
    Reconciliation {
        run: ReconciliationRunId,
        nightly: bool,
    },
}

/// An import or reconciliation run still RUNNING, untouched for a while.
#[derive(Clone, Debug)]
pub struct OverdueRun {
    pub kind: LongRunKind,
    pub user_id: UserId,
    /// When it was last moved on: the cursor of the next page.
    pub quiet_since: DateTime<Utc>,
    id: uuid::Uuid,
}

/// At most `limit` imports and reconciliation runs still RUNNING and untouched for
/// `quiet_for`, oldest first, after `after` (`long_runs_overdue`,
/// migrations/..._overdue_long_runs.sql).
#[tracing::instrument(skip_all)]
pub async fn long_runs_overdue(
    pool: &PgPool,
    quiet_for: Duration,
    after: Option<&OverdueRun>,
    limit: i64,
) -> Result<Vec<OverdueRun>, StoreError> {
    let quiet_for_ms = i64::try_from(quiet_for.as_millis()).unwrap_or(i64::MAX);
    let mut tx = pool.begin().await?;
    type Row = (
        String,
        uuid::Uuid,
        uuid::Uuid,
        Option<String>,
        bool,
        DateTime<Utc>,
    );
    let rows: Vec<Row> = sql::query_as(
        "SELECT kind, id, user_id, workflow_id, nightly, quiet_since
           FROM long_runs_overdue(make_interval(secs => $1::double precision / 1000),
                                  $2, $3, $4::integer)",
    )
    .bind(quiet_for_ms)
    .bind(after.map(|last| last.quiet_since))
    .bind(after.map(|last| last.id))
    .bind(limit.clamp(0, crate::PAGE_SIZE_MAX))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.into_iter()
        .map(|(kind, id, user_id, workflow_id, nightly, quiet_since)| {
            let kind = match (kind.as_str(), workflow_id) {
                ("import", Some(workflow_id)) => LongRunKind::Import {
                    import: StatementImportId::from_uuid(id),
                    workflow_id,
                },
                ("reconciliation", _) => LongRunKind::Reconciliation {
                    run: ReconciliationRunId::from_uuid(id),
                    nightly,
                },
                (other, _) => {
                    return Err(StoreError::Invariant(format!("long run kind {other}")));
                }
            };
            Ok(OverdueRun {
                kind,
                user_id: UserId::from_uuid(user_id),
                quiet_since,
                id,
            })
        })
        .collect()
}
