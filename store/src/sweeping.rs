//! The operations nothing has moved on for a while, across users: what the worker's sweeper
//! looks at (`djinn_activities::sweeper`), read through `operations_overdue`
//! (migrations/..._overdue_operations.sql, paged since ..._review_lock_order_and_sweep_cursor.sql),
//! which returns ids only.

use crate::StoreError;
use crate::operations::OperationKind;
use crate::sql;
use chrono::{DateTime, Utc};
use djinn_domain::{OperationId, UserId};
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
