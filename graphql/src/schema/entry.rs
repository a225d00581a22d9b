//! `LedgerEntry` and `Account.entries`: an account's history as a Relay connection, newest
//! activity first, keyset-paged both ways (`first`/`after` toward older entries,
//! `last`/`before` toward newer ones) on the entry's position (`djinn_store::entries`).

use super::account::Account;
use super::ids::{self, NodeType};
use super::loaders::{AccountLoader, OperationLoader};
use super::money::Money;
use super::operation::Operation;
use super::{internal, page_size_of, state};
use async_graphql::connection::{Connection, Edge};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, ID, Object, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use djinn_domain::{AccountId, OperationId};
use djinn_store::entries::{self, EntryPage, EntryView};

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum EntryStatus {
    Pending,
    Posted,
    Voided,
}

impl From<entries::EntryStatus> for EntryStatus {
    fn from(status: entries::EntryStatus) -> Self {
        match status {
            entries::EntryStatus::Pending => EntryStatus::Pending,
            entries::EntryStatus::Posted => EntryStatus::Posted,
            entries::EntryStatus::Voided => EntryStatus::Voided,
        }
    }
}

/// One posting of an account: money in (positive) or out (negative), in the account's currency.
#[derive(Clone, Debug)]
pub struct LedgerEntry(pub EntryView);

#[Object]
impl LedgerEntry {
    pub async fn id(&self) -> ID {
        ids::encode(NodeType::LedgerEntry, self.0.id)
    }
    /// Signed: negative when money left the account.
    async fn amount(&self) -> Money {
        self.0.amount.into()
    }
    /// The account's balance right after this entry was posted; null until it is.
    async fn balance_after(&self) -> Option<Money> {
        self.0.balance_after.map(Into::into)
    }
    async fn status(&self) -> EntryStatus {
        self.0.status.into()
    }
    /// What wrote it: OPENING, TRANSFER, REVERSAL, ...
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn posted_at(&self) -> Option<DateTime<Utc>> {
        self.0.posted_at
    }
    /// The account on the other side, when it is one of the user's (an opening balance's other
    /// side is the books' own equity, which is never shown).
    async fn counterparty_account(&self, ctx: &Context<'_>) -> Result<Option<Account>> {
        let Some(id) = self.0.counterparty else {
            return Ok(None);
        };
        Ok(ctx
            .data::<DataLoader<AccountLoader>>()?
            .load_one(id)
            .await
            .map_err(internal)?
            .map(Account))
    }
    /// The operation that wrote the entry (its journal entry has the operation's id).
    async fn operation(&self, ctx: &Context<'_>) -> Result<Option<Operation>> {
        Ok(ctx
            .data::<DataLoader<OperationLoader>>()?
            .load_one(OperationId::from_uuid(self.0.transaction_id))
            .await
            .map_err(internal)?
            .map(Operation))
    }
}

/// The page `first`/`after` or `last`/`before` ask for, refusing what Relay does not allow.
fn entry_page(
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> Result<EntryPage> {
    match (
        first.is_some() || after.is_some(),
        last.is_some() || before.is_some(),
    ) {
        (true, true) => Err(async_graphql::Error::new(
            "page with `first`/`after` or with `last`/`before`, not both",
        )),
        (_, false) => Ok(EntryPage::Older {
            before: after.as_deref().map(decode_cursor).transpose()?,
            limit: page_size_of(first, "first")?,
        }),
        (false, true) => Ok(EntryPage::Newer {
            after: before.as_deref().map(decode_cursor).transpose()?,
            limit: page_size_of(last, "last")?,
        }),
    }
}

/// `Account.entries`: one page of the account's history, newest activity first.
pub(super) async fn entries(
    ctx: &Context<'_>,
    account: AccountId,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> Result<Connection<String, LedgerEntry>> {
    let (app, user) = state(ctx)?;
    let page = entry_page(first, after, last, before)?;
    let (fetch, limit) = match page {
        EntryPage::Older { before, limit } => (
            EntryPage::Older {
                before,
                limit: limit + 1,
            },
            limit,
        ),
        EntryPage::Newer { after, limit } => (
            EntryPage::Newer {
                after,
                limit: limit + 1,
            },
            limit,
        ),
    };
    let mut rows = entries::list(&app.pool, user, account, fetch)
        .await
        .map_err(internal)?;
    let more = rows.len() as i64 > limit;
    let (has_previous, has_next) = match page {
        EntryPage::Older { before, .. } => {
            rows.truncate(usize::try_from(limit).unwrap_or(0));
            (before.is_some(), more)
        }
        EntryPage::Newer { after, .. } => {
            if more {
                rows.remove(0);
            }
            (more, after.is_some())
        }
    };
    let mut connection = Connection::new(has_previous, has_next);
    connection.edges.extend(
        rows.into_iter()
            .map(|row| Edge::new(encode_cursor(row.position), LedgerEntry(row))),
    );
    Ok(connection)
}

/// Entry cursors are opaque: base64 of "e:<position>".
fn encode_cursor(position: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("e:{position}"))
}

fn decode_cursor(cursor: &str) -> Result<i64> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("e:")?.parse().ok())
        .ok_or_else(|| async_graphql::Error::new("invalid cursor"))
}
