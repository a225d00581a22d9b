//! The operations nothing has moved on for a while, across users: what the worker's sweeper
//! looks at (`djinn_activities::sweeper`), read through `operations_overdue`
//! (migrations/..._overdue_operations.sql), which returns ids only.

use crate::StoreError;
use crate::operations::OperationKind;
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
}

/// At most `limit` operations still pending and untouched for `quiet_for`, longest first.
#[tracing::instrument(skip_all)]
pub async fn overdue(
    pool: &PgPool,
    quiet_for: Duration,
    limit: i64,
) -> Result<Vec<Overdue>, StoreError> {
    let quiet_for_ms = i64::try_from(quiet_for.as_millis()).unwrap_or(i64::MAX);
    let rows: Vec<(uuid::Uuid, uuid::Uuid, String, String)> = sqlx::query_as(
        "SELECT id, user_id, kind, workflow_id
           FROM operations_overdue(make_interval(secs => $1::double precision / 1000), $2::integer)",
    )
    .bind(quiet_for_ms)
    .bind(limit.clamp(0, crate::PAGE_SIZE_MAX))
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(id, user_id, kind, workflow_id)| {
            Ok(Overdue {
                id: OperationId::from_uuid(id),
                user_id: UserId::from_uuid(user_id),
                kind: OperationKind::parse(&kind)?,
                workflow_id,
            })
        })
        .collect()
}
