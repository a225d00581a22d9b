//! An account's history: its entries from the `account_entries` read model
//! (migrations/..._account_entries.sql), one per posting of the account, newest activity first.
//! Pages are keyset pages on the entry's position, read from the unique index
//! (account_id, position): no OFFSET, and an entry added while a client pages lands above the
//! page it is on, never inside it. One case moves: a pending entry that is posted while a client
//! pages moves to the top, so a client paging toward older entries past it does not meet it
//! again, and one paging toward newer entries may meet it twice (the id tells).

use crate::StoreError;
use crate::session::begin_as;
use crate::sql;
use chrono::{DateTime, Utc};
use djinn_domain::{AccountId, Money, UserId};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryStatus {
    /// Reserved: counted against the available balance, not yet the balance.
    Pending,
    Posted,
    /// Released without moving money.
    Voided,
}

#[derive(Clone, Debug)]
pub struct EntryView {
    /// The posting's id: the entry's identity.
    pub id: Uuid,
    pub account_id: AccountId,
    /// Its place in the account's history (higher: newer activity); the page cursor.
    pub position: i64,
    pub status: EntryStatus,
    /// Signed, in the account's currency: negative when money left the account.
    pub amount: Money,
    /// The account's posted balance right after this entry was posted; only for posted ones.
    pub balance_after: Option<Money>,
    /// The journal entry's kind, in capitals (OPENING, TRANSFER, REVERSAL, ...).
    pub kind: String,
    pub description: Option<String>,
    pub posted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The other leg's account when it is one of the user's own (not a system account).
    pub counterparty: Option<AccountId>,
    /// The journal entry's id, which is the id of the operation that wrote it.
    pub transaction_id: Uuid,
}

/// Which page of the history: `Older` is what follows a cursor in the newest-first list (or
/// the newest entries), `Newer` what precedes it (or the oldest entries), both at most `limit`.
#[derive(Clone, Copy, Debug)]
pub enum EntryPage {
    Older { before: Option<i64>, limit: i64 },
    Newer { after: Option<i64>, limit: i64 },
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    posting_id: Uuid,
    account_id: Uuid,
    position: i64,
    status: String,
    balance_after_minor: Option<i64>,
    posted_at: Option<DateTime<Utc>>,
    amount_minor: i64,
    currency: String,
    kind: String,
    description: Option<String>,
    created_at: DateTime<Utc>,
    transaction_id: Uuid,
    counterparty_id: Option<Uuid>,
}

impl TryFrom<EntryRow> for EntryView {
    type Error = StoreError;
    fn try_from(row: EntryRow) -> Result<Self, StoreError> {
        let currency = crate::stored_currency(&row.currency)?;
        let status = match row.status.as_str() {
            "pending" => EntryStatus::Pending,
            "posted" => EntryStatus::Posted,
            "voided" => EntryStatus::Voided,
            other => return Err(StoreError::Invariant(format!("entry status {other}"))),
        };
        Ok(EntryView {
            id: row.posting_id,
            account_id: AccountId::from_uuid(row.account_id),
            position: row.position,
            status,
            amount: Money::from_minor(row.amount_minor, currency),
            balance_after: row
                .balance_after_minor
                .map(|minor| Money::from_minor(minor, currency)),
            kind: row.kind.to_uppercase(),
            description: row.description,
            posted_at: row.posted_at,
            created_at: row.created_at,
            counterparty: row.counterparty_id.map(AccountId::from_uuid),
            transaction_id: row.transaction_id,
        })
    }
}

/// The columns of [`EntryRow`]; a macro so that queries stay static strings.
macro_rules! select_entry {
    () => {
        "SELECT e.posting_id, e.account_id, e.position, e.status, e.balance_after_minor, e.posted_at,
        p.amount_minor, p.currency::text AS currency, t.kind, t.description, t.created_at,
        t.id AS transaction_id,
        (SELECT c.account_id FROM postings c JOIN accounts ca ON ca.id = c.account_id
          WHERE c.transaction_id = e.transaction_id AND c.account_id <> e.account_id
            AND ca.kind NOT IN ('equity', 'clearing') LIMIT 1) AS counterparty_id
   FROM account_entries e
   JOIN postings p ON p.id = e.posting_id
   JOIN transactions t ON t.id = e.transaction_id"
    };
}

/// A page of the history of the user's account `account` (nothing for another user's), newest
/// activity first.
#[tracing::instrument(skip_all, fields(account_id = %account))]
pub async fn list(
    pool: &PgPool,
    user: UserId,
    account: AccountId,
    page: EntryPage,
) -> Result<Vec<EntryView>, StoreError> {
    const OLDER: &str = concat!(
        select_entry!(),
        " WHERE e.account_id = $1 AND e.user_id = $2 AND ($3::bigint IS NULL OR e.position < $3)
         ORDER BY e.position DESC LIMIT $4"
    );
    const NEWER: &str = concat!(
        select_entry!(),
        " WHERE e.account_id = $1 AND e.user_id = $2 AND ($3::bigint IS NULL OR e.position > $3)
         ORDER BY e.position ASC LIMIT $4"
    );
    let (query, cursor, limit) = match page {
        EntryPage::Older { before, limit } => (OLDER, before, limit),
        EntryPage::Newer { after, limit } => (NEWER, after, limit),
    };
    let mut tx = begin_as(pool, user).await?;
    let mut rows: Vec<EntryRow> = sql::query_as(query)
        .bind(account.as_uuid())
        .bind(user.as_uuid())
        .bind(cursor)
        .bind(limit.clamp(0, crate::PAGE_SIZE_MAX + 1))
        .fetch_all(&mut *tx)
        .await?;
    // Newer pages are read upward from the cursor; the history reads newest first.
    if matches!(page, EntryPage::Newer { .. }) {
        rows.reverse();
    }
    tx.commit().await?;
    rows.into_iter().map(EntryView::try_from).collect()
}

/// One of the user's entries by its id (the posting's), or `None`.
#[tracing::instrument(skip_all)]
pub async fn get(pool: &PgPool, user: UserId, id: Uuid) -> Result<Option<EntryView>, StoreError> {
    let mut tx = begin_as(pool, user).await?;
    let row: Option<EntryRow> = sql::query_as(concat!(
        select_entry!(),
        " WHERE e.posting_id = $1 AND e.user_id = $2"
    ))
    .bind(id)
    .bind(user.as_uuid())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    row.map(EntryView::try_from).transpose()
}

/// The user's entries among `ids` (postings' ids), in one query, ordered by id.
#[tracing::instrument(skip_all)]
pub async fn get_many(
    pool: &PgPool,
    user: UserId,
    ids: &[Uuid],
) -> Result<Vec<EntryView>, StoreError> {
    let mut tx = begin_as(pool, user).await?;
    let rows: Vec<EntryRow> = sql::query_as(concat!(
        select_entry!(),
        " WHERE e.posting_id = ANY($1) AND e.user_id = $2 ORDER BY e.posting_id"
    ))
    .bind(ids)
    .bind(user.as_uuid())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.into_iter().map(EntryView::try_from).collect()
}
