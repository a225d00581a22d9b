//! Users: one row per Firebase uid, created on first sight.

use crate::StoreError;
use crate::session::begin_signing_in;
use crate::sql;
use djinn_domain::UserId;
use sqlx::PgPool;

/// Returns the user for a Firebase uid, creating it the first time the uid is seen. Safe under
/// concurrency: two first requests of the same new user resolve to the same row.
#[tracing::instrument(skip_all)]
pub async fn ensure_user(pool: &PgPool, firebase_uid: &str) -> Result<UserId, StoreError> {
    let mut tx = begin_signing_in(pool, firebase_uid).await?;
    let inserted: Option<uuid::Uuid> = sql::query_scalar(
        "WITH inserted AS (
             INSERT INTO users (id, firebase_uid) VALUES ($1, $2)
             ON CONFLICT (firebase_uid) DO NOTHING RETURNING id)
         SELECT id FROM inserted
         UNION ALL SELECT id FROM users WHERE firebase_uid = $2
         LIMIT 1",
    )
    .bind(UserId::generate().as_uuid())
    .bind(firebase_uid)
    .fetch_optional(&mut *tx)
    .await?;
    // A concurrent first request inserted the row after this statement's snapshot was taken:
    // the insert waited for it and did nothing, and the statement could not see it. A new
    // statement does (read committed).
    let id = match inserted {
        Some(id) => id,
        None => {
            sql::query_scalar("SELECT id FROM users WHERE firebase_uid = $1")
                .bind(firebase_uid)
                .fetch_one(&mut *tx)
                .await?
        }
    };
    tx.commit().await?;
    Ok(UserId::from_uuid(id))
}
