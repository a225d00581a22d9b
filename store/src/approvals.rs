//! Approval thresholds: per user and currency, the amount at or over which a transfer waits
//! for its owner's approval. `register_transfer_for` reads them when it registers a transfer
//! (migrations/..._approvals.sql); a change never reaches a transfer already registered.

use crate::session::begin_as;
use crate::{StoreError, sql};
use djinn_domain::{Currency, Money, UserId};

/// Sets the user's threshold in `amount`'s currency to `amount` (positive, at most the largest
/// amount: the table's CHECK says so too).
#[tracing::instrument(skip_all)]
pub async fn set_threshold(
    pool: &sqlx::PgPool,
    user: UserId,
    amount: Money,
) -> Result<(), StoreError> {
    let mut tx = begin_as(pool, user).await?;
    sql::query(
        "INSERT INTO approval_thresholds (user_id, currency, amount_minor) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, currency)
         DO UPDATE SET amount_minor = EXCLUDED.amount_minor, updated_at = now()",
    )
    .bind(user.as_uuid())
    .bind(amount.currency().code())
    .bind(amount.amount_minor())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Clears the user's threshold in `currency`, or in every currency when `None`.
#[tracing::instrument(skip_all)]
pub async fn clear_threshold(
    pool: &sqlx::PgPool,
    user: UserId,
    currency: Option<Currency>,
) -> Result<(), StoreError> {
    let mut tx = begin_as(pool, user).await?;
    sql::query("DELETE FROM approval_thresholds WHERE user_id = $1 AND ($2::text IS NULL OR currency = $2)")
        .bind(user.as_uuid())
        .bind(currency.as_ref().map(Currency::code))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
